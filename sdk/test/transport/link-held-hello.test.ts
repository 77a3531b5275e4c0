// A link's own hello goes out before it reads (issue 16): through a relay, the peer's hello can
// be waiting in the stream, right behind the relay's `ok`, when the link attaches its reader.
import t from 'tap'
import {
  dialLink,
  fromUtf8,
  LinkListener,
  utf8,
  type Bytes,
  type Link,
  type StreamConnector,
} from '@passage/sdk'
import { connectTcp, listenTcp } from '@passage/sdk/node'
import { identities } from '@passage/sdk/testing'

const { alice, bob } = identities('alice', 'bob')

t.test(
  "a stream that holds the peer's hello before it has a reader still opens a link",
  async (t) => {
    // As through a relay: the listener's hello came right behind the relay's `ok` and waits in
    // the stream; it is handed over the moment the dialer's link attaches its reader.
    const listener = await LinkListener.listen({ identity: bob, listen: listenTcp })
    t.teardown(() => listener.close())
    const accepted = new Promise<Link>((resolve) => listener.on('link', resolve))
    const connect: StreamConnector = async (host, port) => {
      const stream = await connectTcp(host, port)
      const held: Bytes[] = [await new Promise<Bytes>((resolve) => stream.onData(resolve))]
      return {
        remote: stream.remote,
        write: (bytes) => stream.write(bytes),
        onData(handler) {
          // Synchronously, before the reader could write anything; once (the link reads on).
          for (const chunk of held.splice(0)) handler(chunk)
          stream.onData(handler)
        },
        onClose: (handler) => stream.onClose(handler),
        pause: () => stream.pause(),
        resume: () => stream.resume(),
        end: () => stream.end(),
        destroy: () => stream.destroy(),
      }
    }
    const { port } = listener.address()
    const link = await dialLink({
      host: '127.0.0.1',
      port,
      identity: alice,
      expectedId: bob.id,
      connect,
    })
    t.teardown(() => link.close())
    t.same(link.peer.id, bob.id, 'the link opened')
    const far = await accepted
    const got = new Promise<Bytes>((resolve) => far.on('frame', resolve))
    await link.send(utf8('after the held hello'))
    t.equal(fromUtf8(await got), 'after the held hello')
  },
)
