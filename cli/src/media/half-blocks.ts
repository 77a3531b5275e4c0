import { scaleRgba } from './scale-rgba.js'

/** How a terminal shows colour: 24-bit, the xterm 256 palette, or not at all. */
export type ColorDepth = 'truecolor' | '256' | 'none'

/**
 * The colour depth the environment asks for: none under `NO_COLOR` (https://no-color.org) or
 * `TERM=dumb`; 24-bit when `COLORTERM` says `truecolor` or `24bit`; else the 256 palette
 * (tmux and most terminals have it).
 */
export function colorDepthFor(env: Record<string, string | undefined>): ColorDepth {
  if ((env.NO_COLOR !== undefined && env.NO_COLOR !== '') || env.TERM === 'dumb') return 'none'
  const colorterm = (env.COLORTERM ?? '').toLowerCase()
  return colorterm === 'truecolor' || colorterm === '24bit' ? 'truecolor' : '256'
}

/**
 * The cells a `width`×`height` picture takes within `maxColumns`×`maxRows`: each cell shows
 * two pixels stacked (a half block), about square on a terminal, so the aspect ratio holds.
 */
export function cellsFor(
  width: number,
  height: number,
  maxColumns: number,
  maxRows: number,
): { columns: number; rows: number } {
  const scale = Math.min(maxColumns / width, (maxRows * 2) / height, 1)
  return {
    columns: Math.max(1, Math.round(width * scale)),
    rows: Math.max(1, Math.round((height * scale) / 2)),
  }
}

const UPPER = '▀'
const LOWER = '▄'
const RESET = '\x1b[39;49m'
/** Pixels at least this opaque are drawn; the rest show the terminal's own background. */
const OPAQUE = 128

/**
 * Draws an RGBA picture as `rows` lines of `columns` half-block cells: the upper pixel is the
 * foreground of `▀`, the lower one its background, transparent pixels left to the terminal.
 * Escapes are written only when a colour changes; every line ends with the colours reset.
 */
export function halfBlocks(
  rgba: Uint8Array,
  width: number,
  height: number,
  columns: number,
  rows: number,
  depth: Exclude<ColorDepth, 'none'>,
): string[] {
  const px = scaleRgba(rgba, width, height, columns, rows * 2)
  const color = depth === 'truecolor' ? truecolor : xterm256
  const lines: string[] = []
  for (let row = 0; row < rows; row++) {
    let line = ''
    let fg = ''
    let bg = ''
    const set = (nextFg: string, nextBg: string) => {
      if (nextFg !== fg) line += nextFg
      if (nextBg !== bg) line += nextBg
      fg = nextFg
      bg = nextBg
    }
    for (let x = 0; x < columns; x++) {
      const top = (row * 2 * columns + x) * 4
      const bottom = top + columns * 4
      const topShown = px[top + 3]! >= OPAQUE
      const bottomShown = px[bottom + 3]! >= OPAQUE
      if (topShown && bottomShown) {
        set(color(px, top, 38), color(px, bottom, 48))
        line += UPPER
      } else if (topShown) {
        set(color(px, top, 38), '\x1b[49m')
        line += UPPER
      } else if (bottomShown) {
        set(color(px, bottom, 38), '\x1b[49m')
        line += LOWER
      } else {
        set(fg, '\x1b[49m')
        line += ' '
      }
    }
    lines.push(line + RESET)
  }
  return lines
}

function truecolor(px: Uint8Array, at: number, layer: 38 | 48): string {
  return `\x1b[${layer};2;${px[at]};${px[at + 1]};${px[at + 2]}m`
}

function xterm256(px: Uint8Array, at: number, layer: 38 | 48): string {
  return `\x1b[${layer};5;${xtermIndex(px[at]!, px[at + 1]!, px[at + 2]!)}m`
}

const CUBE = [0, 95, 135, 175, 215, 255]

/** The nearest xterm 256-palette colour: from the 6×6×6 cube (16–231) or the grey ramp (232–255). */
export function xtermIndex(r: number, g: number, b: number): number {
  const level = (v: number) => (v < 48 ? 0 : v < 115 ? 1 : Math.floor((v - 35) / 40))
  const [ri, gi, bi] = [level(r), level(g), level(b)]
  const cube = 16 + 36 * ri + 6 * gi + bi
  const cubeDistance = distance(r, g, b, CUBE[ri]!, CUBE[gi]!, CUBE[bi]!)
  const average = (r + g + b) / 3
  const grey = average > 238 ? 23 : Math.max(0, Math.round((average - 8) / 10))
  const greyLevel = 8 + grey * 10
  const greyDistance = distance(r, g, b, greyLevel, greyLevel, greyLevel)
  return greyDistance < cubeDistance ? 232 + grey : cube
}

function distance(r: number, g: number, b: number, r2: number, g2: number, b2: number): number {
  return (r - r2) ** 2 + (g - g2) ** 2 + (b - b2) ** 2
}
