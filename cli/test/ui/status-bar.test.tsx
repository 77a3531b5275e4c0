// The status bar alone (no clients): at every width from 40 to 200 columns the way out
// ("Esc quit · ? help") shows whole at the right end, with or without a notice, and the
// line never exceeds the width.
import stringWidth from 'string-width'
import t from 'tap'
import type { ClientStatus } from '@passage/sdk'
import { themeFor } from '../../src/ui/theme.js'

const { render } = await import('ink-testing-library')
const { Box } = await import('ink')
const { StatusBar } = await import('../../src/ui/components/StatusBar.js')
const { createElement } = await import('react')

const plain = themeFor({ NO_COLOR: '1' })

function status(superNodes: number, down: number): ClientStatus {
  return {
    online: true,
    lanPeers: 0,
    dhtNodes: 12,
    directLinks: 1,
    outbox: 0,
    superNodes: Array.from({ length: superNodes }, (_, i) => ({
      url: `http://127.0.0.1:${8000 + i}`,
      reachable: i >= down,
    })),
  } as unknown as ClientStatus
}

function line(width: number, notice: string | undefined, s = status(1, 0)): string {
  const app = render(
    createElement(
      Box,
      { width },
      createElement(StatusBar, { status: s, notice, width, theme: plain }),
    ),
  )
  const frame = app.lastFrame() ?? ''
  app.unmount()
  return frame
}

t.test('80 columns: the facts, the keys and the way out', async (t) => {
  t.equal(
    line(80, undefined),
    'LAN 0 │ super-node ok │ DHT 12 │ links 1 │ outbox 0  Tab next  Esc quit · ? help',
  )
})

t.test('the quit hint stays whole at every width, with and without a notice', async (t) => {
  const notice = 'could not reach http://127.0.0.1:8080: connection refused; retrying in 30 s'
  for (let width = 40; width <= 200; width += 7) {
    for (const n of [undefined, notice]) {
      for (const s of [status(1, 0), status(3, 2)]) {
        const text = line(width, n, s)
        t.ok(text.endsWith('Esc quit · ? help'), `${width}: ${text}`)
        t.ok(stringWidth(text) <= width, `${width}: fits`)
        if (n) t.match(text, /could not reach/, `${width}: the notice shows`)
      }
    }
  }
})
