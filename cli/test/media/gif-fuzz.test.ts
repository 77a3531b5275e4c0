// 10,000 mutated GIFs through the decoder: each ends in frames or a GifError (never another
// exception, never a hang), within a generous bound each. The mutations are fast-check's, from
// a fixed seed, over small real GIFs made here (animation, transparency, every disposal).
import fc from 'fast-check'
import t from 'tap'
import { decodeGif } from '../../src/media/gif-decode.js'
import { GifError } from '../../src/media/gif-error.js'
import { animation, makeGif } from '../helpers/gifs.js'

/** A bound on one decode, not a speed goal: the largest seen here is about 5 ms. */
const PER_GIF_CAP_MS = 2_000
const RUNS = 10_000

const seeds = [
  animation(8, 3),
  animation(24, 2, 0),
  makeGif(6, 6, [
    { width: 6, height: 6, pixels: 0, disposal: 1 },
    {
      x: 1,
      y: 1,
      width: 3,
      height: 3,
      pixels: (x) => (x === 0 ? 7 : 2),
      transparent: 7,
      disposal: 3,
    },
    { x: 2, y: 2, width: 4, height: 4, pixels: 1, disposal: 2 },
  ]),
]

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }

function apply(seed: Uint8Array, mutations: Mutation[]): Uint8Array {
  let bytes = seed.slice()
  for (const m of mutations) {
    const at = m.at % Math.max(1, bytes.length)
    if (m.kind === 'set') bytes[at] = m.value
    else if (m.kind === 'flip') bytes[at]! ^= 1 << m.bit
    else if (m.kind === 'cut') bytes = bytes.subarray(0, at)
    else {
      const next = new Uint8Array(bytes.length + m.bytes.length)
      next.set(bytes.subarray(0, at))
      next.set(m.bytes, at)
      next.set(bytes.subarray(at), at + m.bytes.length)
      bytes = next
    }
  }
  return bytes
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(400),
      value: fc.nat(255),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(400), bit: fc.nat(7) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.nat(400) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(400),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }),
    }),
  },
)

t.test(`${RUNS} mutated GIFs: frames or a GifError, each within the bound`, async (t) => {
  const outcomes = new Map<string, number>()
  let slowest = 0
  let crashes = 0
  fc.assert(
    fc.property(
      fc.nat(seeds.length - 1),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      (which, mutations) => {
        const bytes = apply(seeds[which]!, mutations)
        const started = performance.now()
        let outcome: string
        try {
          const gif = decodeGif(bytes)
          outcome = gif.frames.length > 0 ? 'decoded' : 'empty'
        } catch (error) {
          if (!(error instanceof GifError)) {
            crashes++
            throw error
          }
          outcome = error.code
        }
        const took = performance.now() - started
        slowest = Math.max(slowest, took)
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
        return took < PER_GIF_CAP_MS
      },
    ),
    { numRuns: RUNS, seed: 12, endOnFailure: true },
  )
  t.equal(crashes, 0, 'no exception other than GifError')
  t.notOk(outcomes.has('empty'), 'a decoded GIF always has frames')
  // Both sides were reached: mutations that still decode, and each kind of refusal.
  t.ok((outcomes.get('decoded') ?? 0) > 100, `decoded: ${outcomes.get('decoded')}`)
  t.ok((outcomes.get('malformed') ?? 0) > 100, `malformed: ${outcomes.get('malformed')}`)
  t.comment(
    `outcomes ${JSON.stringify(Object.fromEntries(outcomes))}, slowest ${slowest.toFixed(1)} ms`,
  )
})
