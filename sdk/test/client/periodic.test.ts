import t from 'tap'
import { ManualClock, ManualTimers } from '@passage/sdk'
import { collect, startClient, testnet, whenClient, offlinePair } from '@passage/sdk/testing'

t.test(
  'a running client fetches its mailbox at start and every interval (injected clock)',
  async (t) => {
    const net = await testnet(t)
    // The testnet's nodes check signed requests against the real time: start the manual clock there.
    const clock = new ManualClock(Date.now())
    const timers = new ManualTimers(clock)
    const intervalMs = 60_000
    const { alice, bobHome, bob: offline } = await offlinePair(t, net)
    const id = offline.textId
    await alice.send(id, 'waiting at start')

    const bob = await startClient(
      t,
      net,
      bobHome,
      { listen: false, background: true, fetchIntervalMs: intervalMs, clock },
      { timers },
    )
    const atStart = collect(bob, 1, 5_000)
    t.ok(timers.size >= 1, 'the first run is scheduled')
    timers.advance(0)
    t.same(
      (await atStart.done).map((m) => m.text),
      ['waiting at start'],
      'fetched at start',
    )
    // Other timers may wait too (on a loaded machine, an outbox retry 5 s on): the fetch's own
    // is the one due one interval later, set when the run at start has finished.
    t.ok(
      await whenClient(bob, () => timers.dueTimes().includes(clock.now() + intervalMs)),
      'the next run is scheduled, one interval later',
    )

    await alice.send(id, 'while running')
    const later = collect(bob, 1, 5_000)
    timers.advance(intervalMs - 1)
    t.equal(bob.status().lastFetchAt !== undefined, true)
    timers.advance(1)
    t.same(
      (await later.done).map((m) => m.text),
      ['while running'],
      'fetched one interval later',
    )
  },
)
