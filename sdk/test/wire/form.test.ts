// The core's form encoding (passage: URIs) against Node's URLSearchParams, which implements the
// WHATWG standard it follows: the same text both ways, for any string.
import fc from 'fast-check'
import t from 'tap'
import { formDecode, formEncode } from '../../src/core/wire/form.js'

t.test('formEncode writes what URLSearchParams writes', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), (a, b) => {
      for (const value of [a, b]) {
        const expected = new URLSearchParams({ v: value }).toString().slice(2)
        if (formEncode(value) !== expected) return false
      }
      return true
    }),
    { numRuns: 2000 },
  )
  t.equal(
    formEncode('Alice & Bob 漢字 👩‍💻'),
    new URLSearchParams({ v: 'Alice & Bob 漢字 👩‍💻' }).toString().slice(2),
  )
})

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
