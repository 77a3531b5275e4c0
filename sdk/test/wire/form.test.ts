// Query values of passage: URIs: written percent-encoded (a space as %20), so a URI decoder and
// a form decoder both read them back; read as a form decoder (Node's URLSearchParams, the
// WHATWG standard) reads them, so a `+` written by earlier versions is still a space.
import fc from 'fast-check'
import t from 'tap'
import { formDecode, percentEncode } from '../../src/core/wire/form.js'

t.test(
  'percentEncode: decodeURIComponent and URLSearchParams both read the value back',
  async (t) => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), (a, b) => {
        for (const value of [a, b]) {
          // A lone surrogate is not text: it is written (and read) as U+FFFD.
          const text = new TextDecoder().decode(new TextEncoder().encode(value))
          const encoded = percentEncode(value)
          if (/[^A-Za-z0-9*\-._%]/.test(encoded)) return false
          if (decodeURIComponent(encoded) !== text) return false
          if (new URLSearchParams(`v=${encoded}`).get('v') !== text) return false
          if (formDecode(`v=${encoded}`).get('v') !== text) return false
        }
        return true
      }),
      { numRuns: 2000 },
    )
    t.equal(
      percentEncode('Alice & Bob + 漢'),
      'Alice%20%26%20Bob%20%2B%20%E6%BC%A2',
      'a space is %20',
    )
  },
)

t.test('formDecode reads what URLSearchParams writes, and never throws on garbage', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), (name, value) => {
      const query = new URLSearchParams({ key: 'k', name, value }).toString()
      const ours = formDecode(query)
      // A lone surrogate is not text: URLSearchParams writes U+FFFD for it.
      const theirs = new URLSearchParams(query)
      return ours.get('name') === theirs.get('name') && ours.get('value') === theirs.get('value')
    }),
    { numRuns: 2000 },
  )
  const alphabet = fc.constantFrom(
    '%',
    '+',
    '&',
    '=',
    'a',
    'é',
    '漢',
    '\ud83d',
    '%2',
    '%zz',
    '%E6%BC',
    '%a0',
  )
  fc.assert(
    fc.property(
      fc.array(alphabet, { maxLength: 24 }).map((parts) => parts.join('')),
      (query) => {
        const decoded = formDecode(query)
        return [...decoded.values()].every((v) => typeof v === 'string')
      },
    ),
    { numRuns: 2000 },
  )
  t.same(
    [...formDecode('key=abc&name=Alice+B%20%E6%BC%A2&name=second')],
    [
      ['key', 'abc'],
      ['name', 'Alice B 漢'],
    ],
  )
  t.equal(
    formDecode('name=%zz%E6%BC').get('name'),
    '%zz\ufffd',
    'bad escapes stay, a cut sequence is U+FFFD',
  )
})
