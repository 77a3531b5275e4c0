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

// Wide and joined text: CJK (2 columns each), a ZWJ family emoji and a flag (one cluster of
// 2 columns each), letters with combining accents (1 column for 2 code points).
const WIDE_UNITS = [
  '漢',
  '字',
  'か',
  '👨\u200d👩\u200d👧\u200d👦',
  '🏳️\u200d🌈',
  'e\u0301',
  'n\u0303',
  'a',
  ' ',
]

t.test('wrap measures columns, not code points: CJK, ZWJ emoji, combining marks', async (t) => {
  t.same(wrap('漢字漢字漢字', 4), ['漢字', '漢字', '漢字'], 'two CJK characters fill 4 columns')
  const family = '👨\u200d👩\u200d👧\u200d👦'
  t.same(
    wrap(`${family}${family}${family}`, 4),
    [`${family}${family}`, family],
    'never splits a ZWJ',
  )
  t.same(
    wrap('cafe\u0301 cafe\u0301', 4),
    ['cafe\u0301', 'cafe\u0301'],
    'accents stay on their letter',
  )
  t.equal(width('漢字'), 4)
  t.equal(width(family), 2)
  t.equal(width('e\u0301'), 1)
  t.equal(truncate('漢字漢字漢字', 5), '漢字…', 'cut by columns')
  t.equal(truncate(`ab${family}cd`, 4), 'ab…', 'an emoji is not cut in half')
})

t.test('wrap with wide text: every line fits, nothing but break spaces is lost', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...WIDE_UNITS), { maxLength: 120 }).map((a) => a.join('')),
      fc.integer({ min: 2, max: 60 }),
      fc.integer({ min: 2, max: 60 }),
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
