// passage send --gif / --file and passage attachments save, run in-process (runCli) with tmp
// homes against one real super-node on 127.0.0.1 (LAN off): the GIF's chunks go to the DHT,
// the recipient fetches them, checks them and saves the same bytes. Every refusal says what
// to do next and exits non-zero, with nothing sent.
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { startSuperNode } from './helpers/super-node.js'
import { passage } from './helpers/passage.js'
import { animation } from './helpers/gifs.js'

const node = await startSuperNode()
t.teardown(() => node.stop())

const homes = { alice: tmpHome(t, 'alice'), bob: tmpHome(t, 'bob') }
const ids: Record<string, { id: string; uri: string }> = {}
for (const [name, home] of Object.entries(homes)) {
  ids[name] = JSON.parse((await passage(['init', '--home', home, '--name', name, '--json'])).out)
}
const online = (home: string) => ['--home', home, '--server', node.url]
await passage(['inbox', ...online(homes.bob)])
await passage(['contacts', 'add', ids.bob!.uri, '--name', 'bob', ...online(homes.alice)])
await passage(['contacts', 'add', ids.alice!.uri, '--name', 'alice', ...online(homes.bob)])

const dir = t.testdir({})
const gifPath = join(dir, '猫 cat.gif')
const gif = animation(40, 6, 10)
writeFileSync(gifPath, gif)
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

t.test('a GIF to a contact, fetched from the DHT and saved: the same bytes', async (t) => {
  const sent = await passage([
    'send',
    'bob',
    '--gif',
    gifPath,
    '--caption',
    '見て 🐈',
    ...online(homes.alice),
  ])
  t.equal(sent.code, 0, sent.err)
  t.match(sent.out, /\[GIF 40×40 · 6 frames · 0\.6 s · \d+ (B|KiB)\] to bob: stored/)

  const inbox = await passage(['inbox', ...online(homes.bob)])
  t.equal(inbox.code, 0, inbox.err)
  t.match(
    inbox.out,
    /alice: \[GIF 40×40 · 6 frames · 0\.6 s · \d+ (B|KiB)\] 見て 🐈 \(id [0-9a-f]{12}\)/,
  )
  const id = /\(id ([0-9a-f]{12})\)/.exec(inbox.out)![1]!

  const history = await passage(['history', 'alice', '--json', '--home', homes.bob])
  t.match(JSON.parse(history.out), [
    {
      text: '見て 🐈',
      attachment: {
        contentType: 'image/gif',
        fileName: '猫 cat.gif',
        size: gif.byteLength,
        width: 40,
        height: 40,
        frames: 6,
        durationMs: 600,
        state: 'available',
      },
    },
  ])

  const target = join(dir, 'saved.gif')
  const saved = await passage(['attachments', 'save', id, target, ...online(homes.bob)])
  t.equal(saved.code, 0, saved.err)
  t.match(saved.out, `saved ${target}`)
  t.equal(sha(readFileSync(target)), sha(gif), 'SHA-256 equal')

  const again = await passage(['attachments', 'save', id, target, ...online(homes.bob)])
  t.equal(again.code, 1)
  t.match(again.err, /is there already: give another path, or --force to replace it/)
  const forced = await passage(['attachments', 'save', id, target, '--force', '--home', homes.bob])
  t.equal(forced.code, 0, 'kept in the home: saved again with no network')
})

t.test('any file with --file; the text after the contact is its caption', async (t) => {
  const path = join(dir, 'notes.txt')
  writeFileSync(path, 'hello 世界\n'.repeat(100))
  const sent = await passage([
    'send',
    'bob',
    'read',
    'this',
    '--file',
    path,
    ...online(homes.alice),
  ])
  t.equal(sent.code, 0, sent.err)
  t.match(sent.out, /\[file notes\.txt · 1 KiB\] to bob/)
  const inbox = await passage(['inbox', '--json', ...online(homes.bob)])
  const [message] = JSON.parse(inbox.out) as { id: string; text: string; attachment: object }[]
  t.match(message, {
    text: 'read this',
    attachment: { contentType: 'text/plain', fileName: 'notes.txt' },
  })
  const target = join(dir, 'notes-saved.txt')
  const saved = await passage(['attachments', 'save', message!.id, target, ...online(homes.bob)])
  t.equal(saved.code, 0, saved.err)
  t.equal(readFileSync(target, 'utf8'), 'hello 世界\n'.repeat(100))
})

t.test('refusals: nothing sent, a clear error, a non-zero exit', async (t) => {
  const send = (...args: string[]) => passage(['send', 'bob', ...args, ...online(homes.alice)])
  const missing = await send('--gif', join(dir, 'nope.gif'))
  t.equal(missing.code, 1)
  t.match(missing.err, /no file at .*nope\.gif: check the path; nothing was sent/)

  const text = join(dir, 'not-a-gif.gif')
  writeFileSync(text, 'just text, long enough to have a header')
  const notGif = await send('--gif', text)
  t.equal(notGif.code, 1)
  t.match(notGif.err, /not a GIF .*send it with --file to send it as a file; nothing was sent/)

  const big = join(dir, 'big.bin')
  writeFileSync(big, new Uint8Array(8 * 1024 * 1024 + 1))
  const tooBig = await send('--file', big)
  t.equal(tooBig.code, 1)
  t.match(
    tooBig.err,
    /big\.bin is 8\.0 MiB; an attachment is at most 8\.0 MiB: send a smaller rendition/,
  )

  const huge = gif.slice()
  huge[6] = 0xff
  huge[7] = 0xff
  const hugePath = join(dir, 'huge.gif')
  writeFileSync(hugePath, huge)
  const tooWide = await send('--gif', hugePath)
  t.equal(tooWide.code, 1)
  t.match(
    tooWide.err,
    /65535×40 pixels; at most 1024×1024 is shown; make a smaller rendition, or send it with --file/,
  )

  const both = await send('--gif', gifPath, '--file', gifPath)
  t.equal(both.code, 1)
  t.match(both.err, /--gif or --file, not both/)

  const nothing = await passage(['send', 'bob', ...online(homes.alice)])
  t.equal(nothing.code, 1)
  t.match(nothing.err, /nothing to send: give a text, or --gif FILE/)

  const noMessage = await passage(['attachments', 'save', 'abcdef123456', '--home', homes.bob])
  t.equal(noMessage.code, 1)
  t.match(noMessage.err, /no message abcdef123456/)
})

t.test('the super-node down: the upload fails, exit 3, and says so', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  // Carol knows only that super-node (Alice's home remembers the live one too).
  const carol = tmpHome(t, 'carol')
  const dead = `http://127.0.0.1:${port}`
  t.equal((await passage(['init', '--home', carol, '--name', 'carol'])).code, 0)
  const added = await passage(['contacts', 'add', ids.bob!.uri, '--name', 'bob', '--home', carol])
  t.equal(added.code, 0, added.err)
  const down = await passage(['send', 'bob', '--gif', gifPath, '--home', carol, '--server', dead])
  t.equal(down.code, 3, down.err)
  t.match(
    down.err,
    /not connected to the DHT: the attachment cannot be stored for offline recipients; try again once online/,
  )
})
