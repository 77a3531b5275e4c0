/** Why a GIF was refused; stable, for tests and for the words shown to the user. */
export type GifErrorCode =
  /** Not a GIF at all (no `GIF87a` / `GIF89a` signature, or shorter than its header). */
  | 'not-gif'
  /** Wider or taller than the limit, or more bytes than the limit, said before decoding. */
  | 'too-large'
  /** More frames than the limit. */
  | 'too-many-frames'
  /** A GIF that breaks its own structure (blocks, LZW data). */
  | 'malformed'
  /** Decoding took longer than the time cap (or the decoder's worker ran out of memory). */
  | 'too-slow'

/** A GIF the terminal will not decode or show, with what to do instead in `message`. */
export class GifError extends Error {
  override readonly name = 'GifError'
  constructor(
    readonly code: GifErrorCode,
    message: string,
  ) {
    super(message)
  }
}
