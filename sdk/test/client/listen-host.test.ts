// Where the link listener binds when the app does not say (issue 13, item 11): wherever peers
// are told to dial. cli/test/send-link-netns.test.ts shows the reason across machines.
import t from 'tap'
import { defaultListenHost } from '../../src/core/client/network.js'

t.test('LAN discovery on: every interface, or the one it was given', async (t) => {
  t.equal(defaultListenHost(undefined, true), '0.0.0.0')
  t.equal(defaultListenHost(true, true, ['http://127.0.0.1:8080']), '0.0.0.0')
  t.equal(defaultListenHost({ interface: '10.0.0.5' }, true, ['http://203.0.113.9']), '10.0.0.5')
})

t.test('LAN discovery off: every interface when a super-node is elsewhere', async (t) => {
  for (const url of [
    'http://203.0.113.9:8080',
    'https://passage.example.org',
    'http://[2001:db8::1]:8080',
    'http://10.79.2.1:8080',
  ]) {
    t.equal(defaultListenHost(false, true, [url]), '0.0.0.0', url)
    t.equal(defaultListenHost(undefined, false, [url]), '0.0.0.0', `${url}, no multicast here`)
  }
  t.equal(
    defaultListenHost(false, true, ['http://127.0.0.1:8080', 'https://passage.example.org']),
    '0.0.0.0',
    'one elsewhere is enough',
  )
})

t.test('LAN discovery off, super-nodes only on this machine or none: loopback', async (t) => {
  t.equal(defaultListenHost(false, true), '127.0.0.1', 'no super-node')
  t.equal(defaultListenHost(false, true, []), '127.0.0.1', 'no super-node')
  for (const url of [
    'http://127.0.0.1:8080',
    'http://127.8.9.10',
    'http://localhost:8080',
    'http://LOCALHOST',
    'http://node.localhost',
    'http://[::1]:8080',
    'not a url',
  ]) {
    t.equal(defaultListenHost(false, true, [url]), '127.0.0.1', url)
  }
})
