import t from 'tap'
import { ManualClock, ManualTimers } from '@passage/sdk'

t.test('ManualTimers: due times, earliest first; advance fires in order and clears', async (t) => {
  const clock = new ManualClock(1_000)
  const timers = new ManualTimers(clock)
  const fired: string[] = []
  timers.setTimeout(() => fired.push('fetch'), 60_000)
  const retry = timers.setTimeout(() => fired.push('retry'), 5_000)
  timers.setInterval(() => fired.push('tick'), 20_000)
  t.same(timers.dueTimes(), [6_000, 21_000, 61_000])
  t.equal(timers.nextDue(), 6_000)
  timers.clearTimeout(retry)
  t.same(timers.dueTimes(), [21_000, 61_000], 'a cleared timer is gone')
  t.equal(timers.advance(60_000), 4, 'three ticks and the fetch')
  t.same(fired, ['tick', 'tick', 'fetch', 'tick'], 'at one due time, the one set first')
  t.same(timers.dueTimes(), [81_000], 'the interval waits on')
  t.equal(clock.now(), 61_000)
})
