import { homedir } from 'node:os'
import { basename } from 'node:path'
import { useCallback } from 'react'
import type { ChatMessage, ContactId, PassageClient } from '@passage/sdk'
import { PROGRESS_AFTER_MS } from '../../progress.js'
import { readAttachment } from '../../read-attachment.js'

/**
 * `/gif PATH` in the chat screen: the file checked and probed as `passage send --gif` does,
 * then sent (its upload in the background); the status bar says what happens, with the
 * upload's percentage once it has taken over a second. The message shows when sent.
 */
export function useSendGif(
  client: PassageClient,
  onSent: (message: ChatMessage) => void,
  report: (notice: unknown) => void,
): (to: ContactId, path: string) => void {
  return useCallback(
    (to, path) => {
      // A path as a shell would take it: quotes around it dropped, ~/ for the home folder.
      const bare = /^(['"])(.*)\1$/.exec(path)?.[2] ?? path
      const file = bare.startsWith('~/') ? `${homedir()}${bare.slice(1)}` : bare
      const name = basename(file)
      const started = Date.now()
      let shown = -1
      const off = client.on('attachment', (e) => {
        if (e.direction !== 'up' || e.total <= 0 || Date.now() - started < PROGRESS_AFTER_MS) {
          return
        }
        const percent = Math.min(100, Math.floor((e.done / e.total) * 100))
        if (percent !== shown) report(`uploading ${name}: ${percent}%`)
        shown = percent
      })
      report(`sending ${name}…`)
      readAttachment(file, 'gif', undefined)
        .then((input) => client.sendAttachment(to, input, { wait: false }))
        .then(
          (message) => {
            report(`sent ${name}`)
            onSent(message)
          },
          // The file's name, not its whole path: the status bar is one line.
          (error: unknown) =>
            report(error instanceof Error ? error.message.replaceAll(file, name) : error),
        )
        .finally(off)
    },
    [client, onSent, report],
  )
}
