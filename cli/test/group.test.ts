// passage group …, run in-process (runCli) with tmp homes against one real super-node on
// 127.0.0.1; LAN multicast off, so everything travels through DHT mailboxes. Every refusal
// says what happened and exits non-zero.
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { startSuperNode } from './helpers/super-node.js'
import { passage } from './helpers/passage.js'

const node = await startSuperNode()
t.teardown(() => node.stop())

const homes = { alice: tmpHome(t, 'alice'), bob: tmpHome(t, 'bob'), carol: tmpHome(t, 'carol') }
const ids: Record<string, { id: string; uri: string }> = {}
for (const [name, home] of Object.entries(homes)) {
  ids[name] = JSON.parse((await passage(['init', '--home', home, '--name', name, '--json'])).out)
}
const online = (home: string) => ['--home', home, '--server', node.url]
// Bob and Carol online once (their keys and device lists go to the DHT); Alice adds them.
for (const name of ['bob', 'carol'] as const) {
  await passage(['inbox', ...online(homes[name])])
  await passage(['contacts', 'add', ids[name]!.uri, ...online(homes.alice)])
}

t.test('a group made, texts both ways, a member removed', async (t) => {
  const made = await passage([
    'group',
    'create',
    '山の会 🏔',
    'bob',
    'carol',
    ...online(homes.alice),
  ])
  t.equal(made.code, 0, made.err)
  t.match(made.out, /Made the group 山の会 🏔 \(g1[a-z0-9]{32}\) with 2 members besides you/)
  const group = /\((g1[a-z0-9]{32})\)/.exec(made.out)![1]!

  await passage(['inbox', ...online(homes.bob)])
  const list = await passage(['group', '--home', homes.bob])
  t.match(list.out, /# 山の会 🏔 +g1[a-z0-9]{32} +3 +member/)

  const fromAlice = await passage(['group', 'send', '山', 'こんにちは 👋', ...online(homes.alice)])
  t.equal(fromAlice.code, 0, fromAlice.err)
  t.match(fromAlice.out, 'to # 山の会 🏔: stored in the DHT, where every member reads it')
  const fromBob = await passage(['group', 'send', group, 'bob here', ...online(homes.bob)])
  t.equal(fromBob.code, 0, fromBob.err)
  const carol = await passage(['inbox', ...online(homes.carol)])
  t.match(carol.out, /# 山の会 🏔 · p1\w+…\w+: こんにちは 👋/)
  t.match(carol.out, /# 山の会 🏔 · p1\w+…\w+: bob here/)
  const alice = await passage(['inbox', '--json', ...online(homes.alice)])
  t.match(JSON.parse(alice.out), [{ contact: group, text: 'bob here', direction: 'in' }])

  // Refusals: a member may not add or remove; unknown groups and contacts are named.
  const byMember = await passage(['group', 'remove', '山', 'carol', ...online(homes.bob)])
  t.equal(byMember.code, 1)
  t.match(byMember.err, /carol|not a member|no contact/)
  const notAllowed = await passage(['group', 'leave', '山', '--home', homes.carol])
  t.equal(notAllowed.code, 0, 'a member may leave, though')
  const noGroup = await passage(['group', 'send', 'nope', 'hi', ...online(homes.alice)])
  t.equal(noGroup.code, 1)
  t.match(noGroup.err, /no group matches "nope"; see `passage group list`/)
  const noContact = await passage(['group', 'create', 'x', 'zed', ...online(homes.alice)])
  t.equal(noContact.code, 1)
  t.match(noContact.err, /no contact matches "zed"/)

  // Carol left: Alice and Bob see it, and she reads nothing sent afterwards.
  await passage(['inbox', ...online(homes.alice)])
  const info = JSON.parse(
    (await passage(['group', 'info', '山', '--json', '--home', homes.alice])).out,
  )
  t.equal(info.members.length, 2)
  await passage(['group', 'send', '山', 'after carol left', ...online(homes.alice)])
  const after = await passage(['inbox', ...online(homes.carol)])
  t.notMatch(after.out, /after carol left/)
  const hers = JSON.parse(
    (await passage(['group', 'info', '山', '--json', '--home', homes.carol])).out,
  )
  t.equal(hers.member, false)
})
