import { Box, Text } from 'ink'
import { useMemo } from 'react'
import type { DecodedGif } from '../../media/gif-decode.js'
import { gifLabel, type GifFacts } from '../../media/gif-label.js'
import { cellsFor, halfBlocks, type ColorDepth } from '../../media/half-blocks.js'
import { globalTicker, useGifAnimation, type Ticker } from '../hooks/use-gif-animation.js'

export interface GifViewProps {
  /** The decoded GIF; while it is not there (downloading, decoding) the placeholder shows. */
  gif?: DecodedGif | undefined
  /** What the placeholder says (from the attachment's facts until the GIF is decoded). */
  facts: GifFacts
  /** A word after the placeholder: `downloading 40%`, `expired`, why it cannot be shown. */
  status?: string | undefined
  maxColumns: number
  maxRows: number
  depth: ColorDepth
  /** Only the selected GIF animates; the others, and all in still mode, show their first frame. */
  animate: boolean
  ascii?: boolean
  ticker?: Ticker
  /** Show only rows [fromRow, toRow) of the picture (a GIF scrolled half out of view). */
  fromRow?: number
  toRow?: number
}

/**
 * A GIF in the conversation: half-block cells (24-bit or 256 colours) scaled to fit
 * `maxColumns`×`maxRows`, animated at most 10 frames a second when `animate`; one line of
 * words instead under `NO_COLOR` / `TERM=dumb` (`depth` none), or while there is no picture.
 */
export function GifView(props: GifViewProps) {
  const { gif, depth, maxColumns, maxRows } = props
  const delays = useMemo(() => gif?.frames.map((f) => f.delayMs) ?? [], [gif])
  const frame = useGifAnimation(
    delays,
    props.animate && depth !== 'none',
    props.ticker ?? globalTicker,
  )
  // Sized by the GIF's own facts when known: its still preview (32 px) takes the same cells.
  const { width = gif?.width, height = gif?.height } = props.facts
  const cells = useMemo(
    () => (gif && width && height ? cellsFor(width, height, maxColumns, maxRows) : undefined),
    [gif, width, height, maxColumns, maxRows],
  )
  // Each frame's lines, drawn once when first shown.
  const drawn = useMemo(() => new Map<number, string[]>(), [gif, cells, depth])
  if (!gif || !cells || depth === 'none') {
    const label = gifLabel(gif ? { ...props.facts, ...factsOf(gif) } : props.facts, props.ascii)
    return <Text wrap="truncate-end">{props.status ? `${label} ${props.status}` : label}</Text>
  }
  let lines = drawn.get(frame)
  if (!lines) {
    const f = gif.frames[frame]!
    lines = halfBlocks(f.rgba, gif.frameWidth, gif.frameHeight, cells.columns, cells.rows, depth)
    drawn.set(frame, lines)
  }
  const shown = lines.slice(props.fromRow ?? 0, props.toRow ?? lines.length)
  return (
    <Box flexDirection="column">
      {shown.map((line, i) => (
        <Text key={i} wrap="truncate-end">
          {line}
        </Text>
      ))}
    </Box>
  )
}

function factsOf(gif: DecodedGif): GifFacts {
  return {
    width: gif.width,
    height: gif.height,
    frames: gif.frames.length,
    durationMs: gif.durationMs,
  }
}

/** The rows a GIF takes in the conversation at most `maxColumns` wide (1 for a placeholder). */
export function gifRows(
  facts: GifFacts,
  depth: ColorDepth,
  maxColumns: number,
  maxRows: number,
): number {
  if (depth === 'none' || facts.width === undefined || facts.height === undefined) return 1
  return cellsFor(facts.width, facts.height, maxColumns, maxRows).rows
}
