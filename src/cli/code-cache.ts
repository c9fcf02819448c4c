/**
 * Where the CLI keeps V8's code cache of its bundle's chunks (`src/cli/chunk-loader.ts`),
 * and the checks that make a cached file safe to run.
 *
 * A code cache is compiled code: whoever can write it runs code as the user who starts
 * `bore`. So the folder is the user's own, `bore-code-cache-<uid>` under Node's compile
 * cache folder when `NODE_COMPILE_CACHE` names one, else under the system's temporary
 * folder, made with mode 0700 and used only while it is a real folder (not a link) owned
 * by this user that nobody else can write, in a parent nobody else can rename it out of
 * (not writable by others, or sticky as `/tmp` is). Otherwise the chunks are compiled as
 * if there were no cache. `NODE_DISABLE_COMPILE_CACHE=1` turns it off, as it does
 * Node's own.
 *
 * An entry is named by the chunk file's name, inode, size and modification time and the
 * Node version: V8 itself only checks the source's length, its own version and flags, so
 * a rebuilt chunk of the same length must never meet the old chunk's code. Entries are
 * written to a temporary name and renamed, so that a start never reads half a file.
 * Nothing is pruned: each build adds some 300 KB, as Node's own cache does, in a folder
 * the system's temporary-file cleaning removes.
 *
 * Hand-written: Node's compile cache (`module.enableCompileCache`) saves a module's code
 * as compiled, before it runs, so it holds the top level and none of the functions the
 * start then calls (bench/README.md, "The CLI's own code cache"); no library caches what
 * a script compiled after it ran.
 */

type Fs = typeof import('node:fs');

/** The parts of `fs.Stats` an entry's name is made of. */
export interface ChunkStats {
  ino: number;
  size: number;
  mtimeMs: number;
}

/** A code cache folder that passed the checks: reads and writes its entries. */
export interface CodeCache {
  /** The folder. */
  readonly dir: string;
  /** The cached code for the chunk `name` with these stats, or `undefined` if there is none (or it cannot be read). */
  read(name: string, stats: ChunkStats): Buffer | undefined;
  /** Writes `data` as the entry for `name` with these stats (errors are ignored: the cache only saves time). */
  write(name: string, stats: ChunkStats, data: Buffer): void;
}

/** What {@link openCodeCache} reads: the environment, the user's id and the temporary folder. */
export interface CodeCacheSetting {
  env: NodeJS.ProcessEnv;
  uid: number;
  tmpdir: string;
}

/** The folder for {@link CodeCacheSetting}, or `undefined` when the cache is turned off. */
export function codeCacheDir({ env, uid, tmpdir }: CodeCacheSetting): string | undefined {
  if (env.NODE_DISABLE_COMPILE_CACHE === '1') return undefined;
  const base = env.NODE_COMPILE_CACHE || tmpdir;
  return `${base.replace(/\/+$/, '')}/bore-code-cache-${uid}`;
}

/**
 * Opens (making it if need be) the code cache folder, or returns `undefined` when it is
 * turned off or fails a check (the module comment). Never throws.
 */
export function openCodeCache(fs: Fs, setting: CodeCacheSetting): CodeCache | undefined {
  const dir = codeCacheDir(setting);
  if (dir === undefined) return undefined;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!trusted(fs, dir, setting.uid)) return undefined;
  } catch {
    return undefined;
  }
  const entry = (name: string, { ino, size, mtimeMs }: ChunkStats) =>
    `${dir}/${name}.${ino}.${size}.${Math.round(mtimeMs * 1000)}.${process.version}.cache`;
  return {
    dir,
    read(name, stats) {
      try {
        return fs.readFileSync(entry(name, stats));
      } catch {
        return undefined;
      }
    },
    write(name, stats, data) {
      const file = entry(name, stats);
      const temporary = `${file}.${process.pid}.tmp`;
      try {
        fs.writeFileSync(temporary, data, { mode: 0o600 });
        fs.renameSync(temporary, file);
      } catch {
        try {
          fs.rmSync(temporary, { force: true });
        } catch {
          // Nothing more to do: a stray temporary file is never read.
        }
      }
    },
  };
}

/** The folder is this user's own real folder, closed to others, in a parent only this user or root can rename it out of. */
function trusted(fs: Fs, dir: string, uid: number): boolean {
  const own = fs.lstatSync(dir);
  if (!own.isDirectory() || own.uid !== uid || (own.mode & 0o077) !== 0) return false;
  const parent = fs.statSync(`${dir}/..`);
  if (parent.uid !== uid && parent.uid !== 0) return false;
  // Writable by others only with the sticky bit (as `/tmp`): then only an entry's owner renames it.
  return (parent.mode & 0o022) === 0 || (parent.mode & 0o1000) !== 0;
}
