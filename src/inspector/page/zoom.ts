/**
 * The chart's zoom. The chart is drawn at its natural size by default (100%: state
 * names at 13 px, labels at 11 px, whatever the window) and its box scrolls; the
 * toolbar zooms out and in, back to 100%, or fits the whole chart to the box's width
 * ("fit", which follows the window). Ctrl (or ⌘) + wheel zooms around the pointer, and
 * dragging the chart scrolls it; the page scrolls a state it enters into view. The
 * choice of zoom is kept in `localStorage` for the next visit.
 */

/** The zoom steps of the − and + buttons. */
export const ZOOM_STEPS = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2] as const;
/** The least and the most scale. */
const MIN_SCALE = ZOOM_STEPS[0];
const MAX_SCALE = ZOOM_STEPS[ZOOM_STEPS.length - 1] ?? 2;
/** Most a fitted chart is enlarged. */
const FIT_MAX = 1.5;
/** Where the choice is kept between visits. */
const STORAGE_KEY = 'bore-inspector-zoom';

/** A zoom level: a scale, or `fit` (the scale that fits the box's width). */
export type Zoom = number | 'fit';

/** The next step from `scale` in direction `dir` (+1 in, -1 out), within {@link ZOOM_STEPS}. */
export function stepZoom(scale: number, dir: 1 | -1): number {
  const steps: readonly number[] = ZOOM_STEPS;
  if (dir > 0) return steps.find((s) => s > scale + 1e-6) ?? steps[steps.length - 1]!;
  return [...steps].reverse().find((s) => s < scale - 1e-6) ?? steps[0]!;
}

/** The zoom of a chart in a scrolling box; see the module comment. */
export class ChartZoom {
  readonly #box: HTMLElement;
  readonly #chart: SVGSVGElement;
  readonly #label: HTMLElement;
  readonly #fit: HTMLElement;
  #zoom: Zoom = 1;
  #width = 0;
  #height = 0;

  /** Wires the toolbar's buttons (`[data-zoom="out|in|reset|fit"]` in `toolbar`), the wheel and dragging. */
  constructor(box: HTMLElement, chart: SVGSVGElement, toolbar: HTMLElement) {
    this.#box = box;
    this.#chart = chart;
    this.#label = toolbar.querySelector('[data-zoom-label]') ?? document.createElement('span');
    this.#fit = toolbar.querySelector('[data-zoom="fit"]') ?? document.createElement('button');
    const saved = readSaved();
    if (saved !== undefined) this.#zoom = saved;
    toolbar.addEventListener('click', (e) => {
      const button = e.target instanceof Element ? e.target.closest('[data-zoom]') : null;
      const action = button?.getAttribute('data-zoom');
      if (action === 'in' || action === 'out') this.set(stepZoom(this.scale(), action === 'in' ? 1 : -1));
      else if (action === 'reset') this.set(1);
      else if (action === 'fit') this.set(this.#zoom === 'fit' ? 1 : 'fit');
    });
    box.addEventListener('wheel', (e) => this.#wheel(e), { passive: false });
    this.#dragToScroll();
    window.addEventListener('resize', () => {
      if (this.#zoom === 'fit') this.#apply();
    });
  }

  /** Sets the chart's natural size (its viewBox), after each drawing. */
  setSize(width: number, height: number): void {
    this.#width = width;
    this.#height = height;
    this.#apply();
  }

  /** The scale the chart is shown at. */
  scale(): number {
    if (this.#zoom !== 'fit') return this.#zoom;
    const style = getComputedStyle(this.#box);
    const room = this.#box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return this.#width > 0 ? Math.min(FIT_MAX, Math.max(0.1, room / this.#width)) : 1;
  }

  /** Zooms to `zoom`; keeps the point at (`x`, `y`) of the box (default: its middle) in place. */
  set(zoom: Zoom, x = this.#box.clientWidth / 2, y = this.#box.clientHeight / 2): void {
    const before = this.scale();
    const cx = (this.#box.scrollLeft + x) / before;
    const cy = (this.#box.scrollTop + y) / before;
    this.#zoom = zoom;
    save(zoom);
    this.#apply();
    const after = this.scale();
    this.#box.scrollLeft = cx * after - x;
    this.#box.scrollTop = cy * after - y;
  }

  /** Scrolls the box so that `targets` (parts of the chart, e.g. the states just entered) are in view, if they are not. */
  reveal(targets: readonly Element[]): void {
    if (!targets.length || this.#box.classList.contains('dragging')) return;
    const rects = targets.map((el) => el.getBoundingClientRect());
    const l = Math.min(...rects.map((rect) => rect.left));
    const r = Math.max(...rects.map((rect) => rect.right));
    const t = Math.min(...rects.map((rect) => rect.top));
    const b = Math.max(...rects.map((rect) => rect.bottom));
    const view = this.#box.getBoundingClientRect();
    // Out of view on an axis: centre it on that axis (its start first, if it is larger than the box).
    const shift = (start: number, end: number, viewStart: number, viewEnd: number) =>
      start >= viewStart && end <= viewEnd ? 0 : Math.min(start - viewStart, (start + end) / 2 - (viewStart + viewEnd) / 2);
    const left = shift(l, r, view.left, view.right);
    const top = shift(t, b, view.top, view.bottom);
    if (left === 0 && top === 0) return; // (a new smooth scroll would stop one under way)
    const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    this.#box.scrollBy({ left, top, behavior: smooth ? 'smooth' : 'auto' });
  }

  #apply(): void {
    const scale = this.scale();
    this.#chart.setAttribute('width', String(this.#width * scale));
    this.#chart.setAttribute('height', String(this.#height * scale));
    this.#label.textContent = `${Math.round(scale * 100)}%`;
    this.#fit.setAttribute('aria-pressed', String(this.#zoom === 'fit'));
  }

  #wheel(e: WheelEvent): void {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    const rect = this.#box.getBoundingClientRect();
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale() * Math.exp(-e.deltaY / 500)));
    this.set(scale, e.clientX - rect.left, e.clientY - rect.top);
  }

  #dragToScroll(): void {
    const box = this.#box;
    let from: { x: number; y: number; left: number; top: number } | undefined;
    box.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || e.pointerType !== 'mouse' || (e.target instanceof Element && e.target.closest('button'))) return;
      if (box.scrollWidth <= box.clientWidth && box.scrollHeight <= box.clientHeight) return;
      from = { x: e.clientX, y: e.clientY, left: box.scrollLeft, top: box.scrollTop };
      box.setPointerCapture(e.pointerId);
      box.classList.add('dragging');
    });
    box.addEventListener('pointermove', (e) => {
      if (!from) return;
      box.scrollLeft = from.left - (e.clientX - from.x);
      box.scrollTop = from.top - (e.clientY - from.y);
    });
    const stop = () => {
      from = undefined;
      box.classList.remove('dragging');
    };
    box.addEventListener('pointerup', stop);
    box.addEventListener('pointercancel', stop);
  }
}

function readSaved(): Zoom | undefined {
  try {
    const text = localStorage.getItem(STORAGE_KEY);
    if (text === 'fit') return 'fit';
    const n = Number(text);
    return text && n >= MIN_SCALE && n <= MAX_SCALE ? n : undefined;
  } catch {
    return undefined; // storage refused (e.g. a sandboxed page): start at 100%
  }
}

function save(zoom: Zoom): void {
  try {
    localStorage.setItem(STORAGE_KEY, String(zoom));
  } catch {
    // not kept: fine
  }
}
