import type { CliIo, TextSink } from './cli-io.js'

/** Text decorations; all of them are the identity function when colour is off. */
export interface Style {
  color: boolean
  bold(text: string): string
  dim(text: string): string
  red(text: string): string
  green(text: string): string
  yellow(text: string): string
}

/**
 * Colour only on a terminal, and never when `NO_COLOR` is set to anything non-empty
 * (https://no-color.org). `FORCE_COLOR` (non-empty, not `0`) forces it on.
 */
export function style(io: CliIo, sink: TextSink = io.stdout): Style {
  const noColor = io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== ''
  const force = io.env.FORCE_COLOR !== undefined && !['', '0'].includes(io.env.FORCE_COLOR)
  const color = !noColor && (force || sink.isTTY === true)
  const wrap = (open: number, close: number) => (text: string) =>
    color ? `\x1b[${open}m${text}\x1b[${close}m` : text
  return {
    color,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
  }
}
