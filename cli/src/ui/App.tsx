import { Box, Text, useApp, useInput } from 'ink'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import {
  MAX_TEXT_BYTES,
  type ChatMessage,
  type ContactId,
  type DeviceInfo,
  type PassageClient,
} from '@passage/sdk'
import { claimedLabel, contactLabel, presenceLabel, shortId } from '../format.js'
import { parseChatInput } from './chat-commands.js'
import { ContactList, entryLabel, requestEntry, type ListEntry } from './components/ContactList.js'
import { HelpOverlay } from './components/HelpOverlay.js'
import { GifView } from './components/GifView.js'
import { MessageInput } from './components/MessageInput.js'
import {
  GIF_MAX_ROWS,
  layoutMessages,
  MessageList,
  type ConversationNotice,
  type GifRows,
} from './components/MessageList.js'
import { StatusBar } from './components/StatusBar.js'
import { useClientStatus } from './hooks/use-client-status.js'
import { useContactActions } from './hooks/use-contact-actions.js'
import { useConversations } from './hooks/use-conversations.js'
import type { Ticker } from './hooks/use-gif-animation.js'
import { useGifs } from './hooks/use-gifs.js'
import { useHistory } from './hooks/use-history.js'
import { useNotice } from './hooks/use-notice.js'
import { useSend } from './hooks/use-send.js'
import { useSendGif } from './hooks/use-send-gif.js'
import { useTerminalSize } from './hooks/use-terminal-size.js'
import { utf8Bytes } from './input-layout.js'
import { cellsFor, type ColorDepth } from '../media/half-blocks.js'
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
  /**
   * GIFs in the conversation: the colour depth (default: 24-bit with colour, else words
   * only), `still` (no animation at all), the animation's timer (tests fire it by hand).
   */
  gifs?: { depth?: ColorDepth; still?: boolean; ticker?: Ticker }
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
export function App({
  client,
  theme,
  initialContactId,
  size,
  onExit,
  bell,
  refreshMs,
  gifs: gifOptions = {},
}: AppProps) {
  const { exit } = useApp()
  const { columns, rows } = useTerminalSize(size)
  const { notice, report } = useNotice(client)
  const { conversations, requests, reload } = useConversations(client, report, refreshMs)
  // Requests first (they wait for an answer), then contacts and groups.
  const entries: ListEntry[] = useMemo(
    () => [...requests.map(requestEntry), ...conversations],
    [requests, conversations],
  )
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
    if (selectedId === undefined && entries.length > 0) {
      setSelectedId((conversations[0] ?? entries[0])!.contact.id)
    }
  }, [entries, conversations, selectedId])

  const conversation = entries.find((c) => c.contact.id === selectedId)
  const selected = conversation?.contact
  const group = conversation?.group
  const request = conversation?.request
  const names = useMemo(
    () =>
      new Map(conversations.filter((c) => !c.group).map((c) => [c.contact.id, c.contact] as const)),
    [conversations],
  )
  const { messages, add } = useHistory(client, selectedId, report, reload, refreshMs)
  const devices = useContactDevices(client, selectedId)
  const notices = useDeviceNotices(client)
  const sendMessage = useSend(client, add, report)
  const sendGif = useSendGif(client, add, report)
  const depth: ColorDepth = theme.color ? (gifOptions.depth ?? 'truecolor') : 'none'
  const gifs = useGifs(client, messages, depth !== 'none')
  // The newest GIF that is there animates; the others (and all in still mode) rest.
  const animating = gifOptions.still
    ? undefined
    : messages.findLast((m) => gifs.get(m.id)?.gif !== undefined)?.id

  const leftOuter = Math.min(CONTACTS_MAX_COLUMNS, Math.max(12, Math.floor(columns * 0.3)))
  const rightOuter = columns - leftOuter
  const inner = rightOuter - 2
  const messageRows = Math.max(1, rows - CHROME_ROWS - (inputRows - 1))

  const ellipsis = theme.ascii ? '~' : '…'
  const actions = useContactActions(client, report, reload, setSelectedId, ellipsis)
  const authorOf = useCallback(
    (m: ChatMessage) => {
      if (m.direction === 'out') return 'me'
      // A stranger's name is only a claim: `~Alice?`, never like a contact's.
      if (request) return truncate(claimedLabel(request, ellipsis), 16, ellipsis)
      // In a group, each text is prefixed with its sender: a contact's name, else its ID.
      const from = group ? names.get(m.sender.account) : selected
      if (from) return truncate(contactLabel(from, ellipsis), 16, ellipsis)
      return group ? shortId(m.sender.account, ellipsis) : '?'
    },
    [selected, group, request, names, ellipsis],
  )
  const shownNotices = useMemo(() => {
    const shown = selectedId === undefined ? undefined : notices[selectedId]
    if (!request) return shown
    const text =
      '— not a contact: Ctrl+Y or /accept [name] accepts, /block blocks, /decline deletes —'
    // Above its first message.
    return [{ key: 'request', at: request.firstSeenAt - 1, text }, ...(shown ?? [])]
  }, [notices, selectedId, request])
  const gifRows = useCallback<GifRows>(
    (m, columns) => {
      const a = m.attachment
      if (depth === 'none' || a?.width === undefined || a.height === undefined) return 0
      return cellsFor(a.width, a.height, Math.max(1, columns), GIF_MAX_ROWS).rows
    },
    [depth],
  )
  const lines = useMemo(
    () => layoutMessages(messages, authorOf, inner, theme, shownNotices, gifRows),
    [messages, authorOf, inner, theme, shownNotices, gifRows],
  )
  const renderGif = (id: string, fromRow: number, toRow: number) => {
    const message = messages.find((m) => m.id === id)
    const state = gifs.get(id)
    if (!message?.attachment) return null
    return (
      <GifView
        gif={state?.gif ?? state?.still}
        facts={message.attachment}
        status={state?.status}
        maxColumns={Math.max(1, inner - 6)}
        maxRows={GIF_MAX_ROWS}
        depth={depth}
        animate={id === animating}
        ascii={theme.ascii}
        {...(gifOptions.ticker && { ticker: gifOptions.ticker })}
        fromRow={fromRow}
        toRow={toRow}
      />
    )
  }
  const maxScroll = Math.max(0, lines.length - messageRows)

  const move = (step: number) => {
    if (entries.length === 0) return
    const at = entries.findIndex((c) => c.contact.id === selectedId)
    const next = (at + step + entries.length) % entries.length
    setSelectedId(entries[next]!.contact.id)
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
    } else if (key.ctrl && input === 'y') {
      if (conversation) actions.accept(conversation)
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
    : request
      ? [
          entryLabel(conversation, ellipsis),
          shortId(request.textId, ellipsis),
          'contact request',
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
    : entries.length === 0
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
            entries={entries}
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
              renderGif={renderGif}
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
                  if (!conversation || group) {
                    report('/name renames the open contact: open one first')
                    return false
                  }
                  actions.rename(conversation, input.name)
                  return true
                case 'accept':
                case 'decline':
                case 'block':
                  if (!conversation) {
                    report(`/${input.kind} acts on the open contact or request: open one first`)
                    return false
                  }
                  if (input.kind === 'accept') actions.accept(conversation, input.name)
                  else if (input.kind === 'decline') actions.decline(conversation)
                  else actions.block(conversation)
                  return true
                case 'gif':
                  if (!selected) {
                    report('no contact to send to: /add <their passage: URI> adds one')
                    return false
                  }
                  setScroll(0)
                  sendGif(selected.id, input.path)
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
