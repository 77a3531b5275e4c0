// Two online clients on a testnet, each the other's contact, with a direct link open both ways
// (a text each way opens the link and the Signal session): the set-up of the attachment tests
// that pull over a link.
import type { PassageClient } from '@passage/sdk'
import { introduce, startClient, tmpHome, type Teardown, type Testnet } from '@passage/sdk/testing'

/** Alice and Bob, linked, each the other's contact. */
export async function linkedPair(
  t: Teardown,
  net: Testnet,
): Promise<[PassageClient, PassageClient]> {
  const alice = await startClient(t, net, tmpHome(t, 'alice'))
  const bob = await startClient(t, net, tmpHome(t, 'bob'))
  introduce(alice, bob)
  await alice.contacts.add(bob.contactUri)
  await bob.contacts.add(alice.contactUri)
  await alice.send(bob.textId, 'hi')
  await bob.send(alice.textId, 'hi')
  return [alice, bob]
}
