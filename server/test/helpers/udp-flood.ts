import { Worker } from 'node:worker_threads'

/** Longest the main thread stays blocked while the flood is sent. */
const FLOOD_MS = 10_000

/** The sender, in a worker thread: its own event loop sends while the main thread sleeps. */
const SENDER = `
const { parentPort, workerData } = require('node:worker_threads')
const dgram = require('node:dgram')
const { port, count, size, shared } = workerData
const flag = new Int32Array(shared)
const socket = dgram.createSocket('udp4')
const payload = Buffer.alloc(size)
parentPort.once('message', () => {
  let done = 0
  const finish = () => {
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    socket.close()
  }
  for (let i = 0; i < count; i++) {
    socket.send(payload, port, '127.0.0.1', () => {
      if (++done === count) finish()
    })
  }
})
parentPort.postMessage('ready')
`

/**
 * Sends `count` datagrams of `size` zero bytes to 127.0.0.1:`port` from a worker thread while
 * this thread's event loop is blocked, so that nothing in this process reads its sockets
 * meanwhile: a receive buffer smaller than the burst overflows in the kernel, as it does on
 * a node that cannot keep up. Returns when every datagram was handed to the kernel.
 */
export async function floodWhileBlocked(port: number, count: number, size: number): Promise<void> {
  const shared = new SharedArrayBuffer(4)
  const flag = new Int32Array(shared)
  const worker = new Worker(SENDER, { eval: true, workerData: { port, count, size, shared } })
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve())
      worker.once('error', reject)
    })
    worker.postMessage('go')
    // Blocks this thread (and its sockets' reads) until the worker has sent everything.
    const woke = Atomics.wait(flag, 0, 0, FLOOD_MS)
    if (woke === 'timed-out') throw new Error(`the flood of ${count} datagrams took over 10 s`)
  } finally {
    await worker.terminate()
  }
}
