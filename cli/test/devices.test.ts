// passage init --link / --recover and passage devices …, run in-process (runCli) with tmp
// homes against one real super-node on 127.0.0.1; LAN multicast off. Every refusal and
// failure path says what happened, exits non-zero, and leaves homes as they were.
import stringWidth from 'string-width'
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { runCli } from '../src/run-cli.js'
import { captureIo, type CapturedIo } from './helpers/capture-io.js'
import { startSuperNode } from './helpers/super-node.js'
import { passage } from './helpers/passage.js'

const node = await startSuperNode()
t.teardown(() => node.stop())

/** Polls `io`'s output until `pattern` shows (or 30 s passed). */
async function outputShows(io: CapturedIo, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const match = pattern.exec(io.out())
    if (match) return match[0]
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`no ${pattern} in ${io.out()}\n${io.err()}`)
}

const laptop = tmpHome(t, 'laptop')
const alice = JSON.parse(
  (await passage(['init', '--home', laptop, '--name', 'Alice', '--json'])).out,
) as { id: string; recoveryCode: string }

t.test(
  'a fresh account lists one device, this one; its recovery code is the one init showed',
  async (t) => {
    const list = await passage(['devices', '--home', laptop])
    t.equal(list.code, 0, list.err)
    t.match(list.out, /ID +NAME +STATE +KEY +SINCE/)
    t.match(list.out, /1 +\(first device\) +active +p1\w+…\w+ +this device/)
    const code = await passage(['devices', 'recovery-code', '--home', laptop])
    t.equal(code.code, 0, code.err)
    t.match(code.out, alice.recoveryCode)
    t.match(code.out, /whoever has it has your account/)
  },
)

t.test('linking in-process: init --link waits, devices link --yes approves', async (t) => {
  const phone = tmpHome(t, 'phone')
  const io = captureIo({ PASSAGE_LAN: 'off' })
  const waiting = runCli(
    ['init', '--link', '--json', '--name', '手机', '--home', phone, '--server', node.url],
    io,
  )
  const uri = await outputShows(io, /passage-link:[^"]+/)
  const approved = await passage([
    'devices',
    'link',
    uri,
    '--yes',
    '--json',
    '--home',
    laptop,
    '--server',
    node.url,
  ])
  t.equal(approved.code, 0, approved.err)
  t.match(JSON.parse(approved.out), { device: 2, name: '手机', state: 'active' })
  t.equal(await waiting, 0, io.err())
  t.match(io.out(), new RegExp(`"linked":true,"account":"${alice.id}","device":2`))

  const list = JSON.parse((await passage(['devices', 'list', '--json', '--home', laptop])).out)
  t.match(list, [{ device: 1 }, { device: 2, name: '手机' }])
  // The table lines its columns up by display width: 手机 takes four columns, not two.
  const table = (await passage(['devices', '--home', laptop])).out.trimEnd().split('\n')
  const stateColumn = (line: string) => stringWidth(line.slice(0, line.indexOf('active')))
  t.equal(table.length, 3)
  t.equal(stateColumn(table[2]!), stateColumn(table[1]!), table.join('\n'))
  t.equal(stateColumn(table[0]!.replace('STATE', 'active')), stateColumn(table[1]!))
  const again = await passage(['init', '--link', '--home', phone, '--server', node.url])
  t.equal(again.code, 1, 'a linked home is not linked again')
  t.match(again.err, /already device 2 of/)

  // Only device 1 changes the list.
  const fromPhone = await passage(['devices', 'revoke', '1', '--yes', '--home', phone])
  t.equal(fromPhone.code, 1)
  t.match(fromPhone.err, /only device 1, which holds the account key/)
  t.match(fromPhone.err, /run it on device 1/)
  const rename = await passage([
    'devices',
    'rename',
    '2',
    'phone',
    '🌸',
    '--home',
    laptop,
    '--server',
    node.url,
  ])
  t.equal(rename.code, 0, rename.err)
  t.match(rename.out, 'Device 2 is now phone 🌸.')
  const revoked = await passage([
    'devices',
    'revoke',
    '2',
    '--yes',
    '--home',
    laptop,
    '--server',
    node.url,
  ])
  t.equal(revoked.code, 0, revoked.err)
  t.match(revoked.out, /Revoked device 2 \(phone 🌸\); your contacts were told/)
})

t.test('refusals say what happened and change nothing', async (t) => {
  const noTerminal = await passage([
    'devices',
    'link',
    'passage-link:p1496lejv54dv8y7t0yns0e4rfnzhdkmgghf8ln9?key=BVB1r8M0Rr2V5B7IR_zDNMPAoNOvKYwBr2DTFdqfBVw7&eph=BZj-X8nHODwHmJJTjLVsr1lNBRt8hw88skEldodJbVBt',
    '--home',
    laptop,
  ])
  t.equal(noTerminal.code, 1)
  t.match(noTerminal.err, /no terminal to confirm on: compare the codes \(280 352\) and pass --yes/)
  const garbage = await passage(['devices', 'link', 'passage:nope', '--yes', '--home', laptop])
  t.equal(garbage.code, 1)
  t.match(garbage.err, /not a device link request/)
  const first = await passage(['devices', 'revoke', '1', '--yes', '--home', laptop])
  t.equal(first.code, 1)
  t.match(first.err, /device 1 holds the account key and cannot be revoked/)
  const badId = await passage(['devices', 'revoke', 'two', '--yes', '--home', laptop])
  t.equal(badId.code, 1)
  t.match(badId.err, /not a device ID/)
  t.equal(
    (JSON.parse((await passage(['devices', '--json', '--home', laptop])).out) as unknown[]).length,
    2,
  )

  const elsewhere = tmpHome(t, 'recovered')
  const typo = alice.recoveryCode.replace(/.$/, (c) => (c === 'q' ? 'p' : 'q'))
  const bad = await passage(['init', '--recover', typo, '--home', elsewhere, '--server', node.url])
  t.equal(bad.code, 1)
  t.match(bad.err, /typo/)
  const taken = await passage(['init', '--recover', alice.recoveryCode, '--home', laptop])
  t.equal(taken.code, 1)
  t.match(taken.err, /already has an identity/)
  const both = await passage(['init', '--link', '--recover', 'x', '--home', elsewhere])
  t.equal(both.code, 1)
  t.match(both.err, /--link and --recover do not go together/)
})

t.test('recovery into a new home restores device 1 of the account', async (t) => {
  const restored = tmpHome(t, 'restored')
  const run = await passage([
    'init',
    '--recover',
    alice.recoveryCode,
    '--json',
    '--home',
    restored,
    '--server',
    node.url,
  ])
  t.equal(run.code, 0, run.err)
  t.match(JSON.parse(run.out), { account: alice.id, device: 1, published: true })
  const id = JSON.parse((await passage(['id', '--json', '--home', restored])).out)
  t.match(id, { id: alice.id, device: 1 })
})
