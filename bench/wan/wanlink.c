/*
 * wanlink: a link with real latency for bench/wan.ts, since this kernel has no netem.
 *
 *   wanlink bridge <netns-a> <netns-b> <ifname> <delay-ms> [<rate-mbit> <queue-ms>]
 *     Creates a TAP device <ifname> in each of the two network namespaces (named as for
 *     `ip netns`) and forwards Ethernet frames between them: every frame is written to
 *     the other side exactly <delay-ms> after it was read, in order, never dropped (a
 *     full queue stops reading, so the kernel holds the frames). With <rate-mbit>, each
 *     direction is also a link of that rate: a frame first waits for the frames before it
 *     to be sent at that rate, and one that would wait more than <queue-ms> is dropped
 *     (a router's tail drop). Prints "ready" once both
 *     devices exist; on SIGINT/SIGTERM, or when its parent dies, prints its counters to
 *     stderr and exits, and the devices go with it.
 *
 *   wanlink ping <address> <count> <interval-ms>
 *     ICMP echo (a raw socket: root), one round trip in ms per line, then "lost N".
 *
 * Build: gcc -O2 -o wanlink wanlink.c. Linux only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 8192      /* frames queued per direction: 8192 in 10 ms is ~10 Gbit/s of 1500-byte frames */
#define FRAME_MAX 2048  /* an Ethernet frame at MTU 1500 is at most 1514 bytes */
#define READ_BATCH 256  /* frames read from one side before the queues are looked at again */

struct slot {
  uint64_t due_ns;
  uint32_t len;
  unsigned char data[FRAME_MAX];
};

/* One direction: frames read from `in`, written to `out` once due. */
struct dir {
  int in, out;
  struct slot *ring;
  uint32_t head, count, max_count;
  uint64_t frames, bytes, write_errors, dropped;
  /* With a rate: when the link is free again (the last frame taken has been sent). */
  uint64_t free_ns;
};

/* The rate of each direction in bits per second (0: none) and the most a frame may wait for it. */
static double rate_bps;
static uint64_t queue_ns;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "wanlink: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Enters network namespace `name` (as `ip netns exec` does) and creates a TAP device there. */
static int tap_in_netns(const char *name, const char *ifname) {
  char path[256];
  snprintf(path, sizeof path, "/var/run/netns/%s", name);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die(path);
  if (setns(nsfd, CLONE_NEWNET) < 0) die("setns");
  close(nsfd);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  return fd;
}

/* Writes every due frame of `d`; stops early if the device pushes back. */
static void flush_due(struct dir *d, uint64_t now) {
  while (d->count > 0) {
    struct slot *s = &d->ring[d->head];
    if (s->due_ns > now) return;
    if (write(d->out, s->data, s->len) < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      d->write_errors++; /* e.g. EIO while the device is down: the frame is lost, as on a wire */
    }
    d->head = (d->head + 1) % SLOTS;
    d->count--;
  }
}

/* Reads up to READ_BATCH frames into `d`'s queue, each due `delay_ns` after it was read. */
static void read_frames(struct dir *d, uint64_t delay_ns) {
  for (int i = 0; i < READ_BATCH && d->count < SLOTS; i++) {
    struct slot *s = &d->ring[(d->head + d->count) % SLOTS];
    ssize_t n = read(d->in, s->data, FRAME_MAX);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      die("read");
    }
    s->len = (uint32_t)n;
    uint64_t now = now_ns();
    uint64_t sent = now;
    if (rate_bps > 0) {
      uint64_t start = d->free_ns > now ? d->free_ns : now;
      if (start - now > queue_ns) {
        d->dropped++;
        continue;
      }
      sent = start + (uint64_t)((double)n * 8e9 / rate_bps);
      d->free_ns = sent;
    }
    s->due_ns = sent + delay_ns;
    d->count++;
    d->frames++;
    d->bytes += (uint64_t)n;
    if (d->count > d->max_count) d->max_count = d->count;
  }
}

static int bridge(const char *ns_a, const char *ns_b, const char *ifname, double delay_ms) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  prctl(PR_SET_TIMERSLACK, 1UL); /* wake up on time, not up to 50 us late */
  if (getppid() == 1) return 1;
  int a = tap_in_netns(ns_a, ifname);
  int b = tap_in_netns(ns_b, ifname);
  uint64_t delay_ns = (uint64_t)(delay_ms * 1e6);
  struct dir dirs[2] = {{.in = a, .out = b}, {.in = b, .out = a}};
  for (int i = 0; i < 2; i++) {
    dirs[i].ring = malloc(sizeof(struct slot) * SLOTS);
    if (!dirs[i].ring) die("malloc");
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  printf("ready\n");
  fflush(stdout);

  while (!stop) {
    uint64_t now = now_ns();
    struct pollfd fds[2];
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < 2; i++) {
      struct dir *d = &dirs[i];
      flush_due(d, now);
      fds[i].fd = d->in;
      fds[i].events = d->count < SLOTS ? POLLIN : 0;
      fds[i].revents = 0;
      if (d->count > 0) {
        uint64_t due = d->ring[d->head].due_ns;
        /* Due but not written: the device pushed back; try again in 50 us. */
        if (due <= now) due = now + 50000;
        if (due < next) next = due;
      }
    }
    struct timespec ts, *timeout = NULL;
    if (next != UINT64_MAX) {
      uint64_t wait = next - now;
      ts.tv_sec = (time_t)(wait / 1000000000u);
      ts.tv_nsec = (long)(wait % 1000000000u);
      timeout = &ts;
    }
    int r = ppoll(fds, 2, timeout, NULL);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("ppoll");
    }
    for (int i = 0; i < 2; i++)
      if (fds[i].revents & POLLIN) read_frames(&dirs[i], delay_ns);
  }
  for (int i = 0; i < 2; i++)
    fprintf(stderr, "wanlink: %s -> %s: %llu frames, %llu bytes, %llu write errors, %llu dropped, max queue %u\n", i ? ns_b : ns_a,
            i ? ns_a : ns_b, (unsigned long long)dirs[i].frames, (unsigned long long)dirs[i].bytes,
            (unsigned long long)dirs[i].write_errors, (unsigned long long)dirs[i].dropped, dirs[i].max_count);
  return 0;
}

static uint16_t checksum(const void *data, size_t len) {
  const uint16_t *p = data;
  uint32_t sum = 0;
  for (; len > 1; len -= 2) sum += *p++;
  if (len) sum += *(const uint8_t *)p;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static int ping(const char *address, int count, int interval_ms) {
  struct sockaddr_in to = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, address, &to.sin_addr) != 1) {
    fprintf(stderr, "wanlink: not an IPv4 address: %s\n", address);
    return 2;
  }
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (fd < 0) die("raw socket");
  uint16_t id = (uint16_t)getpid();
  int lost = 0;
  for (int seq = 1; seq <= count; seq++) {
    unsigned char pkt[64];
    memset(pkt, 0, sizeof pkt);
    struct icmphdr *h = (struct icmphdr *)pkt;
    h->type = ICMP_ECHO;
    h->un.echo.id = htons(id);
    h->un.echo.sequence = htons((uint16_t)seq);
    h->checksum = checksum(pkt, sizeof pkt);
    uint64_t t0 = now_ns();
    if (sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&to, sizeof to) < 0) die("sendto");
    int got = 0;
    while (!got) {
      uint64_t waited = now_ns() - t0;
      if (waited >= 1000000000u) break;
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, (int)((1000000000u - waited) / 1000000u) + 1) <= 0) continue;
      unsigned char buf[1500];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n < (ssize_t)sizeof(struct iphdr)) continue;
      struct iphdr *ip = (struct iphdr *)buf;
      size_t off = (size_t)ip->ihl * 4;
      if ((size_t)n < off + sizeof(struct icmphdr)) continue;
      struct icmphdr *r = (struct icmphdr *)(buf + off);
      if (r->type == ICMP_ECHOREPLY && ntohs(r->un.echo.id) == id && ntohs(r->un.echo.sequence) == seq) got = 1;
    }
    if (got) printf("%.3f\n", (double)(now_ns() - t0) / 1e6);
    else lost++;
    fflush(stdout);
    if (seq < count) usleep((useconds_t)interval_ms * 1000);
  }
  printf("lost %d\n", lost);
  return 0;
}

int main(int argc, char **argv) {
  if ((argc == 6 || argc == 8) && strcmp(argv[1], "bridge") == 0) {
    if (argc == 8) {
      rate_bps = atof(argv[6]) * 1e6;
      queue_ns = (uint64_t)(atof(argv[7]) * 1e6);
    }
    return bridge(argv[2], argv[3], argv[4], atof(argv[5]));
  }
  if (argc == 5 && strcmp(argv[1], "ping") == 0) return ping(argv[2], atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: wanlink bridge <netns-a> <netns-b> <ifname> <delay-ms> [<rate-mbit> <queue-ms>]\n       wanlink ping <address> <count> <interval-ms>\n");
  return 2;
}
