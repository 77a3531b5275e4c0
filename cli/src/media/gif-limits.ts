/** Bounds on what the terminal decodes, so that a hostile GIF cannot hang or exhaust it. */
export interface GifLimits {
  /** Width and height, logical screen and every frame, in pixels. */
  maxSidePx: number
  maxFrames: number
  /** Bytes of the file. */
  maxBytes: number
  /** Wall time for the whole decode, checked between frames. */
  timeCapMs: number
  /** Frames are kept scaled down to at most this many pixels a side (memory: 300 × 128² × 4 B = 20 MB). */
  keepSidePx: number
}

export const GIF_LIMITS: GifLimits = {
  maxSidePx: 1024, // GIPHY's largest renditions are under 500 px; 1024² × 4 B = 4 MiB a canvas
  maxFrames: 300, // 30 s at 10 fps; GIPHY caps uploads well below
  maxBytes: 8 * 1024 * 1024, // the attachment cap (8 MiB covers GIPHY's "downsized_large")
  timeCapMs: 3_000, // a 1024² × 300 frame GIF that fits in 8 MiB decodes in about 1 s here
  keepSidePx: 128, // a chat line's picture is at most ~100 cells wide and 2 pixels a row tall
}

/** The fastest a GIF animates on screen: at most 10 frames a second. */
export const MIN_FRAME_MS = 100

/** A frame's delay when the GIF says 0 or 10 ms: what browsers do (they play it at 100 ms). */
export const DEFAULT_FRAME_MS = 100
