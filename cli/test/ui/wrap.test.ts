// The chat screen's text fitting: wrap() and truncate() never exceed their width and lose
// no characters but the spaces they break at.
import fc from 'fast-check'
import t from 'tap'
import { truncate, width, wrap } from '../../src/ui/wrap.js'

t.test('wrap breaks at spaces, cuts long words, keeps newlines', async (t) => {
  t.same(wrap('hello brave new world', 11), ['hello brave', 'new world'])
  t.same(wrap('abcdefghij', 4), ['abcd', 'efgh', 'ij'])
  t.same(wrap('one\ntwo', 10), ['one', 'two'])
  t.same(wrap('first line then more', 10, 6), ['first line', 'then', 'more'])
  t.same(wrap('', 5), [''])
  t.same(wrap('a aa', 3, 1), ['a', 'a', 'a'], 'a narrower next line re-wraps what was carried over')
})

t.test('wrap: every line fits, and only break spaces are lost', async (t) => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'é', '✓'), maxLength: 200 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 40 }),
      (text, first, rest) => {
        const lines = wrap(text, first, rest)
        lines.forEach((line, i) => {
          if (width(line) > (i === 0 ? first : rest)) throw new Error(`too wide: ${line}`)
        })
        const squeeze = (s: string) => s.replace(/ /g, '')
        if (squeeze(lines.join('')) !== squeeze(text)) throw new Error('characters lost')
      },
    ),
  )
  t.pass('property holds')
})

t.test('truncate ends in an ellipsis when it cuts', async (t) => {
  t.equal(truncate('Carol Christina', 8), 'Carol C…')
  t.equal(truncate('Carol', 8), 'Carol')
  t.equal(truncate('Carol Christina', 8, '~'), 'Carol C~')
  t.equal(truncate('a\nb', 5), 'a b', 'newlines become spaces')
  t.equal(truncate('abc', 0), '')
})
