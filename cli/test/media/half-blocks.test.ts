// Half-block rendering: two pixels a cell, 24-bit or 256 colours, transparency left to the
// terminal, the colour depth chosen from the environment.
import t from 'tap'
import { cellsFor, colorDepthFor, halfBlocks, xtermIndex } from '../../src/media/half-blocks.js'

// 1×2: red over blue; 1×2 transparent over green.
const redOverBlue = Uint8Array.from([255, 0, 0, 255, 0, 0, 255, 255])
const clearOverGreen = Uint8Array.from([0, 0, 0, 0, 0, 255, 0, 255])

t.test('truecolor: the upper pixel is ▀ in front, the lower one behind it', async (t) => {
  t.same(halfBlocks(redOverBlue, 1, 2, 1, 1, 'truecolor'), [
    '\x1b[38;2;255;0;0m\x1b[48;2;0;0;255m▀\x1b[39;49m',
  ])
})

t.test('256 colours: the nearest xterm palette entries', async (t) => {
  t.same(halfBlocks(redOverBlue, 1, 2, 1, 1, '256'), ['\x1b[38;5;196m\x1b[48;5;21m▀\x1b[39;49m'])
  t.equal(xtermIndex(0, 0, 0), 16)
  t.equal(xtermIndex(255, 255, 255), 231)
  t.equal(xtermIndex(128, 128, 128), 244, 'a grey: the grey ramp')
})

t.test('transparent pixels show the terminal background: ▄ for a lower pixel alone', async (t) => {
  t.same(halfBlocks(clearOverGreen, 1, 2, 1, 1, 'truecolor'), [
    '\x1b[38;2;0;255;0m\x1b[49m▄\x1b[39;49m',
  ])
})

t.test('escapes only when the colour changes', async (t) => {
  const red = new Uint8Array(4 * 2 * 4)
  for (let i = 0; i < 8; i++) red.set([255, 0, 0, 255], i * 4)
  const [line] = halfBlocks(red, 4, 2, 4, 1, 'truecolor')
  t.equal(line, '\x1b[38;2;255;0;0m\x1b[48;2;255;0;0m▀▀▀▀\x1b[39;49m')
})

t.test('cells: fit the budget, keep the aspect (two pixels a row), never upscale', async (t) => {
  t.same(cellsFor(320, 240, 40, 100), { columns: 40, rows: 15 })
  t.same(cellsFor(320, 240, 200, 10), { columns: 27, rows: 10 })
  t.same(cellsFor(8, 8, 200, 100), { columns: 8, rows: 4 })
})

t.test('colour depth from the environment', async (t) => {
  t.equal(colorDepthFor({ COLORTERM: 'truecolor' }), 'truecolor')
  t.equal(colorDepthFor({ COLORTERM: '24bit', TERM: 'xterm-256color' }), 'truecolor')
  t.equal(colorDepthFor({ TERM: 'screen-256color' }), '256')
  t.equal(colorDepthFor({ NO_COLOR: '1', COLORTERM: 'truecolor' }), 'none')
  t.equal(colorDepthFor({ TERM: 'dumb' }), 'none')
  t.equal(colorDepthFor({ NO_COLOR: '' }), '256', 'an empty NO_COLOR does not count')
})
