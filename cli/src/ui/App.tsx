import { Box, Text, useApp, useInput } from 'ink'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import {
  MAX_TEXT_BYTES,
  type ChatMessage,
  type ContactId,
  type DeviceInfo,
  type PassageClient,
} from '@passage/sdk'
import { contactLabel, presenceLabel, shortId } from '../format.js'
import { parseChatInput } from './chat-commands.js'
import { ContactList } from './components/ContactList.js'
import { HelpOverlay } from './components/HelpOverlay.js'
import { MessageInput } from './components/MessageInput.js'
import { layoutMessages, MessageList, type ConversationNotice } from './components/MessageList.js'
import { StatusBar } from './components/StatusBar.js'
import { useClientStatus } from './hooks/use-client-status.js'
import { useConversations } from './hooks/use-conversations.js'
import { useHistory } from './hooks/use-history.js'
import { useNotice } from './hooks/use-notice.js'
import { useSend } from './hooks/use-send.js'
import { useTerminalSize } from './hooks/use-terminal-size.js'
import { utf8Bytes } from './input-layout.js'
import type { Theme } from './theme.js'
import { truncate } from './wrap.js'

/** The contact pane's width at most, borders included: room for a name and a count. */
const CONTACTS_MAX_COLUMNS = 24
/** Rows the frame takes around the messages: 2 borders, header, rule, input, status bar. */
const CHROME_ROWS = 6

export interface AppProps {
  client: PassageClient
  theme: Theme
  /** The contact to open first (`passage chat <contact>`); else the most recent one. */
  initialContactId?: ContactId
  /** A fixed size instead of the terminal's (tests). */
  size?: { columns?: number; rows?: number }
  /** Called when the user quits (Esc, Ctrl+C), before the screen closes. */
  onExit?: () => void
  /** Rings for each incoming message (the terminal bell); none when not given. */
  bell?: () => void
  /** How often the home is re-read for what another process wrote (tests shorten it). */
  refreshMs?: number
}

/** What the status bar says while Esc waits for a second Esc. */
const CONFIRM_QUIT = 'Esc again: quit and drop the draft; any other key: keep it'

/**
 * `passage chat`: contacts on the left (unread counts, online marks), the conversation on the
 * right (history, live messages, delivery marks), the input, a status bar. Keys: Tab /
 * Shift+Tab or ↑/↓ switch contacts, Enter sends, Alt+Enter starts a new line, PgUp/PgDn
 * scroll, `?` (on an empty line) or `/help` shows the help, Esc or Ctrl+C quit (Esc asks
 * first when something is written).
 */
export function App({ client, theme, initialContactId, size, onExit, bell, refreshMs }: AppProps) {
  const { exit } = useApp()
  const { columns, rows } = useTerminalSize(size)
  const { notice, report } = useNotice(client)
  const { conversations, reload } = useConversations(client, report, refreshMs)
  const [selectedId, setSelectedId] = useState<ContactId | undefined>(initialContactId)
  const [scroll, setScroll] = useState(0)
  const [inputRows, setInputRows] = useState(1)
  const status = useClientStatus(client)
  const [help, setHelp] = useState(false)
  const [confirming, setConfirming] = useState(false)
  const draft = useRef('')
  const onDraft = useCallback((text: string) => {
    draft.current = text
  }, [])

  useEffect(() => {
    if (!bell) return
    return client.on('message', (message) => {
      if (message.direction === 'in') bell()
    })
  }, [client, bell])

  useEffect(() => {
    if (selectedId === undefined && conversations.length > 0) {
      setSelectedId(conversations[0]!.contact.id)
    }
  }, [conversations, selectedId])

  const conversation = conversations.find((c) => c.contact.id === selectedId)
  const selected = conversation?.contact
  const group = conversation?.group
  const names = useMemo(
    () =>
      new Map(conversations.filter((c) => !c.group).map((c) => [c.contact.id, c.contact] as const)),
    [conversations],
  )
  const { messages, add } = useHistory(client, selectedId, report, reload, refreshMs)
  const devices = useContactDevices(client, selectedId)
  const notices = useDeviceNotices(client)
  const sendMessage = useSend(client, add, report)

  const leftOuter = Math.min(CONTACTS_MAX_COLUMNS, Math.max(12, Math.floor(columns * 0.3)))
  const rightOuter = columns - leftOuter
  const inner = rightOuter - 2
  const messageRows = Math.max(1, rows - CHROME_ROWS - (inputRows - 1))

  const ellipsis = theme.ascii ? '~' : '…'
  const authorOf = useCallback(
    (m: ChatMessage) => {
      if (m.direction === 'out') return 'me'
      // In a group, each text is prefixed with its sender: a contact's name, else its ID.
      const from = group ? names.get(m.sender.account) : selected
      if (from) return truncate(contactLabel(from, ellipsis), 16, ellipsis)
      return group ? shortId(m.sender.account, ellipsis) : '?'
    },
    [selected, group, names, ellipsis],
  )
  const shownNotices = selectedId === undefined ? undefined : notices[selectedId]
  const lines = useMemo(
    () => layoutMessages(messages, authorOf, inner, theme, shownNotices),
    [messages, authorOf, inner, theme, shownNotices],
  )
  const maxScroll = Math.max(0, lines.length - messageRows)

  const move = (step: number) => {
    if (conversations.length === 0) return
    const at = conversations.findIndex((c) => c.contact.id === selectedId)
    const next = (at + step + conversations.length) % conversations.length
    setSelectedId(conversations[next]!.contact.id)
    setScroll(0)
  }

  const quit = () => {
    onExit?.()
    exit()
  }

  useInput((input, key) => {
    if (key.ctrl && input === 'c') return quit()
    if (help) return setHelp(false)
    if (confirming) {
      setConfirming(false)
      if (key.escape) quit()
      return
    }
    if (key.escape) {
      if (draft.current.trim() === '') quit()
      else setConfirming(true)
    } else if (key.tab) move(key.shift ? -1 : 1)
    else if (key.downArrow) move(1)
    else if (key.upArrow) move(-1)
    else if (key.pageUp) setScroll((s) => Math.min(maxScroll, s + Math.max(1, messageRows - 1)))
    else if (key.pageDown) setScroll((s) => Math.max(0, s - Math.max(1, messageRows - 1)))
  })

  const header = group
    ? [
        `# ${group.name}`,
        `${group.members.length} members`,
        ...(group.member ? [] : ['you left']),
        ...(scroll > 0 ? [`${scroll} lines up, PgDn`] : []),
      ].join(theme.ascii ? ' - ' : ' · ')
    : selected
      ? [
          contactLabel(selected, ellipsis),
          shortId(selected.textId, ellipsis),
          presenceLabel(selected),
          ...(devices.length > 1 ? [devicesLabel(devices)] : []),
          ...(selected.flagged ? [`REFUSED: ${selected.flagged}`] : []),
          ...(scroll > 0 ? [`${scroll} lines up, PgDn`] : []),
        ].join(theme.ascii ? ' - ' : ' · ')
      : 'Passage'
  const empty = selected
    ? 'No messages yet: say hello.'
    : conversations.length === 0
      ? 'No contacts yet: /add <their passage: URI> (or passage contacts add)'
      : ''
  const border = theme.border
  const borderColor = theme.color ? 'gray' : undefined

  return (
    <Box flexDirection="column" width={columns} height={rows}>
      <Box flexDirection="row" height={rows - 1}>
        <Box
          borderStyle={border}
          {...(borderColor && { borderColor })}
          width={leftOuter}
          flexShrink={0}
          overflow="hidden"
        >
          <ContactList
            conversations={conversations}
            selectedId={selectedId}
            width={leftOuter - 2}
            height={rows - 4}
            theme={theme}
          />
        </Box>
        <Box
          borderStyle={border}
          {...(borderColor && { borderColor })}
          flexDirection="column"
          width={rightOuter}
          flexShrink={0}
          overflow="hidden"
        >
          <Text wrap="truncate-end" {...(theme.color && { bold: true })}>
            {truncate(header, inner, ellipsis)}
          </Text>
          {help ? (
            <HelpOverlay theme={theme} width={inner} height={messageRows} />
          ) : (
            <MessageList
              lines={lines}
              scroll={Math.min(scroll, maxScroll)}
              height={messageRows}
              width={inner}
              theme={theme}
              empty={truncate(empty, inner, ellipsis)}
            />
          )}
          <MessageInput
            enabled={selected !== undefined}
            active={!help}
            width={inner}
            theme={theme}
            onRows={setInputRows}
            onDraft={onDraft}
            onHelp={() => setHelp(true)}
            onSubmit={(text) => {
              const input = parseChatInput(text)
              switch (input.kind) {
                case 'send': {
                  if (!selected) {
                    report('no contact to write to: /add <their passage: URI> adds one')
                    return false
                  }
                  const bytes = utf8Bytes(input.text)
                  if (bytes > MAX_TEXT_BYTES) {
                    report(
                      `not sent: ${bytes.toLocaleString('en')} bytes, a message holds ${MAX_TEXT_BYTES.toLocaleString('en')}; shorten it (Ctrl+U clears)`,
                    )
                    return false
                  }
                  setScroll(0)
                  sendMessage(selected.id, input.text)
                  return true
                }
                case 'help':
                  setHelp(true)
                  return true
                case 'add':
                  client.contacts.add(input.uri).then((contact) => {
                    report(`added ${contactLabel(contact, ellipsis)}`)
                    reload()
                    setSelectedId(contact.id)
                  }, report)
                  return true
                case 'name':
                  if (!selected || group) {
                    report('/name renames the open contact: open one first')
                    return false
                  }
                  client.contacts.rename(selected.id, input.name).then(() => {
                    report(`renamed to ${input.name}`)
                    reload()
                  }, report)
                  return true
                case 'block':
                  report('blocking is not available yet; nothing was sent')
                  return true
                case 'gif':
                  report('attachments (GIFs, files) are not supported yet; nothing was sent')
                  return true
                case 'invalid':
                  report(input.message)
                  return false
              }
            }}
          />
        </Box>
      </Box>
      <StatusBar
        status={status}
        notice={confirming ? CONFIRM_QUIT : notice}
        width={columns}
        theme={theme}
      />
    </Box>
  )
}

/** `3 devices (laptop, phone, tablet)`: a contact's active devices, for the header. */
function devicesLabel(devices: DeviceInfo[]): string {
  const names = devices.map((d) => d.name ?? `#${d.deviceId}`)
  return `${devices.length} devices (${names.join(', ')})`
}

/** The active devices of a contact, kept up to date by `device` events. */
function useContactDevices(client: PassageClient, contactId: ContactId | undefined): DeviceInfo[] {
  const [devices, setDevices] = useState<DeviceInfo[]>([])
  useEffect(() => {
    setDevices([])
    if (contactId === undefined) return
    let alive = true
    const load = () =>
      client.devices.list(contactId).then(
        (list) => alive && setDevices(list.filter((d) => d.state === 'active')),
        () => alive && setDevices([]),
      )
    void load()
    const off = client.on('device', (e) => {
      if (e.account === contactId) void load()
    })
    return () => {
      alive = false
      off()
    }
  }, [client, contactId])
  return devices
}

/** A contact linked or revoked a device: a line in its conversation, by contact. */
function useDeviceNotices(client: PassageClient): Record<ContactId, ConversationNotice[]> {
  const [notices, setNotices] = useState<Record<ContactId, ConversationNotice[]>>({})
  useEffect(
    () =>
      client.on('device', (e) => {
        if (e.own) return
        const device = e.name ? `${e.name} (#${e.deviceId})` : `#${e.deviceId}`
        const text =
          e.change === 'linked'
            ? `linked a new device: ${device}`
            : e.change === 'revoked'
              ? `revoked a device: ${device}`
              : e.change === 'recovered'
                ? `restored their first device from its recovery code`
                : `renamed a device: ${device}`
        const at = Date.now()
        setNotices((all) => ({
          ...all,
          [e.account]: [
            ...(all[e.account] ?? []),
            { key: `device:${e.deviceId}:${e.change}:${at}`, at, text: `— ${text} —` },
          ],
        }))
      }),
    [client],
  )
  return notices
}
