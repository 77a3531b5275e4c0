import { useMemo } from 'react'
import type { ContactId, PassageClient } from '@passage/sdk'
import { acceptRequest } from '../../accept-request.js'
import { contactLabel } from '../../format.js'
import { entryLabel, type ListEntry } from '../components/ContactList.js'

/** What the screen does to the open contact or request: accept, decline, block, rename. */
export interface ContactActions {
  /** Accepts the open request (under `name`, else the name it claims when free). */
  accept(entry: ListEntry, name?: string): void
  decline(entry: ListEntry): void
  block(entry: ListEntry): void
  rename(entry: ListEntry, name: string): void
}

/**
 * The screen's contact actions: each reports what it did (or the error) in the status bar and
 * reloads the list; `select` opens a contact (an accepted request stays open).
 */
export function useContactActions(
  client: PassageClient,
  report: (message: unknown) => void,
  reload: () => void,
  select: (id: ContactId | undefined) => void,
  ellipsis: string,
): ContactActions {
  return useMemo(() => {
    const done = (message: string) => {
      report(message)
      reload()
    }
    return {
      accept(entry, name) {
        if (!entry.request) return report('not a contact request: it is a contact already')
        acceptRequest(client, entry.request, name).then(({ contact, clash }) => {
          done(
            clash
              ? `accepted; it claims a contact's name, so it has none: /name <name> names it`
              : `accepted ${contactLabel(contact, ellipsis)}`,
          )
          select(contact.id)
        }, report)
      },
      decline(entry) {
        if (!entry.request)
          return report('/decline is for a contact request; /block blocks a contact')
        client.requests.decline(entry.request.id).then(() => {
          done(`declined ${entryLabel(entry, ellipsis)}: its messages are deleted`)
          select(undefined)
        }, report)
      },
      block(entry) {
        if (entry.group) {
          return report(
            '/block blocks a person: open their conversation, or use passage block <name>',
          )
        }
        client.contacts.block(entry.contact.id).then(() => {
          done(
            `blocked ${entryLabel(entry, ellipsis)}: its messages are dropped (passage unblock undoes it)`,
          )
          select(undefined)
        }, report)
      },
      rename(entry, name) {
        if (entry.request) return this.accept(entry, name)
        if (entry.group) return report('/name renames the open contact: open one first')
        client.contacts
          .rename(entry.contact.id, name)
          .then(() => done(`renamed to ${name}`), report)
      },
    }
  }, [client, report, reload, select, ellipsis])
}
