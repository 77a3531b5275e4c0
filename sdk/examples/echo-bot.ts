// An echo bot: answers every message with "echo: <text>". After `npm run build`:
//
//   PASSAGE_SERVERS=http://127.0.0.1:8080 node sdk/examples/dist/echo-bot.js ./echo-bot-home
//
// (`echo-bot-home/` folders are git-ignored: the home holds the bot's secret key.)
// It creates its identity in the home folder on first run, prints its passage: URI (add it
// as a contact: `passage contacts add '<uri>'`), and runs until Ctrl-C.
import { createNodeClient } from '@passage/sdk/node'

const home = process.argv[2] ?? process.env.PASSAGE_HOME ?? './echo-bot-home'
const servers = (process.env.PASSAGE_SERVERS ?? 'http://127.0.0.1:8080')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)

const client = await createNodeClient({
  home,
  createIdentity: true,
  name: 'echo-bot',
  servers,
  fetchIntervalMs: 5_000, // a bot can afford to look at its mailbox often
  lan: process.env.PASSAGE_LAN !== '0',
})
console.log(`echo bot ${client.textId}`)
console.log(`add me: ${client.contactUri}`)
client.on('error', (error) => console.error(`background: ${error.code} ${error.message}`))
client.on('refused', (r) =>
  console.error(`refused a message (${r.reason}) from ${r.claimedSender}`),
)

const stop = new AbortController()
process.once('SIGINT', () => stop.abort())
process.once('SIGTERM', () => stop.abort())

// Contacts and groups alike: a group's messages carry the group's ID (g1…) as contactId, and
// send() to it answers in the group. Echoes are not echoed, so two bots in a group stay quiet.
for await (const message of client.messages({ signal: stop.signal })) {
  console.log(`${message.contactId}: ${message.text}`)
  if (message.text.startsWith('echo: ')) continue
  await client.markRead(message.contactId, [message.id])
  const reply = await client.send(message.contactId, `echo: ${message.text}`)
  console.log(`  -> ${reply.state} via ${reply.route ?? 'nothing yet (queued)'}`)
}
await client.close()
