// A stream session on /api/realtime-voice/stream that survives a dropped socket: the part of the client that the
// mini-program module (realtime-voice.js) and the web page (served by the gateway as /resumable-stream.js) share.
// Plain ES module, no dependencies; the caller brings the socket (wx.connectSocket, or the browser's WebSocket).
//
// What it does (README, "Resuming a dropped stream"):
// - keeps the last `maxBufferMs` of the audio pushed (30 s by default: the server's --resume-window), so that what
//   the server did not get before a drop, and what is recorded while offline, can be sent again;
// - when the socket closes after `ready` without the session having ended (no `completed`, no server error, a close
//   code other than 1000), reconnects with `resume_token`, `last_seq` and `instance` (which gateway holds the
//   session: deploy/nginx/resume-routing.conf routes by it), waiting 250 ms, 0.5 s, 1 s, 2 s, then 4 s
//   between attempts, for at most `resumeWindowMs` after the drop;
// - on `resumed`, sends the audio from the server's `received_ms` on, then carries on live;
// - passes every result on once: a result whose `seq` it has already seen (the server repeats the ones after
//   `last_seq`) is dropped;
// - when the gateway is shutting down (`server_shutting_down` after its finals: a redeploy, a scale-down), opens a
//   new session (a proxy sends it to another gateway) and goes on from the end of the last final, with the new
//   session's times shifted so that they go on from the old ones.

export const RESUME_DEFAULTS = Object.freeze({ maxBufferMs: 30000, resumeWindowMs: 30000, backoffMs: [250, 500, 1000, 2000, 4000] })

// options:
//   connect(extraQuery, handlers) -> { send(data), close(code) }: opens the stream URL plus `extraQuery` ('' or
//     'resume_token=…&last_seq=…'); handlers.message(text), handlers.close(code)
//   sampleRate: of the PCM pushed (16-bit mono)
//   onMessage(message): every server message except repeated results and `resumed`
//   onReconnecting({ attempt, afterMs, reason }), onResumed(message)
//   onLost({ code, message }): the session could not be resumed (window passed, resume_failed, buffer too short)
//   onClosed(code, { ready }): the socket closed for good (the session ended, or it never became ready)
export function createResumableStream(options) {
  const settings = { ...RESUME_DEFAULTS, ...options }
  const bytesPerMs = (settings.sampleRate * 2) / 1000
  const maxBufferBytes = Math.ceil(settings.maxBufferMs * bytesPerMs)
  let chunks = []            // { offset, bytes }: the audio kept, oldest first
  let total = 0              // bytes pushed so far
  let phase = 'connecting'   // connecting | live | offline | ended
  let socket = null
  let resumeToken = null
  let instance = null        // the gateway holding the session (a proxy may route the resume by it)
  let lastSeq = 0
  let droppedAt = 0
  let attempts = 0
  let retryTimer = null
  let endRequested = false
  let sessionOver = false    // completed, or an error from the server: nothing to resume
  let heardTo = 0            // bytes: the end of the last final (of the whole stream, across handovers)
  let offsetMs = 0           // where the current server session starts in the stream
  let handover = false       // the server is shutting down: go on with a new session

  function open(extraQuery) {
    let current = null
    const handlers = {
      message: (text) => { if (socket === current) receive(JSON.parse(text)) },
      close: (code) => { if (socket === current) closed(code) },
    }
    current = settings.connect(extraQuery, handlers)
    socket = current
  }

  function sendFrom(offset) {
    for (const chunk of chunks) {
      const end = chunk.offset + chunk.bytes.length
      if (end <= offset) continue
      socket.send(chunk.offset >= offset ? chunk.bytes : chunk.bytes.subarray(offset - chunk.offset))
    }
    if (endRequested) socket.send('{"type":"end"}')
  }

  function receive(message) {
    if (message.type === 'ready') {
      const first = resumeToken === null && offsetMs === 0 && !handover
      resumeToken = message.resume_token || null
      instance = message.instance || null
      phase = 'live'
      if (first) settings.onMessage && settings.onMessage(message)
      else settings.onResumed && settings.onResumed({ ...message, received_ms: 0 })
      handover = false
      sendFrom(Math.floor((offsetMs * bytesPerMs) / 2) * 2)
      return
    }
    if (message.type === 'resumed') {
      phase = 'live'
      attempts = 0
      const from = Math.floor((message.received_ms * bytesPerMs) / 2) * 2
      settings.onResumed && settings.onResumed(message)
      if (chunks.length && from < chunks[0].offset) return lose('buffer_too_short', `the server has ${message.received_ms} ms, the audio after it is no longer kept`)
      sendFrom(Math.min(from, total))
      return
    }
    if (message.type === 'partial' || message.type === 'final') {
      if (typeof message.seq === 'number') {
        if (message.seq <= lastSeq) return
        lastSeq = message.seq
      }
      if (offsetMs) message = shifted(message)
      if (message.type === 'final' && typeof message.end_ms === 'number') heardTo = Math.floor((message.end_ms * bytesPerMs) / 2) * 2
    } else if (message.type === 'error') {
      if (message.code === 'resume_failed') return lose('resume_failed', message.message)
      if (message.code === 'server_shutting_down' && !endRequested) { handover = true; return }
      sessionOver = true
    } else if (message.type === 'completed') {
      sessionOver = true
    }
    settings.onMessage && settings.onMessage(message)
  }

  // A result of a session that started `offsetMs` into the stream, in stream time.
  function shifted(message) {
    const move = (ms) => (typeof ms === 'number' ? ms + offsetMs : ms)
    return {
      ...message,
      start_ms: move(message.start_ms),
      end_ms: move(message.end_ms),
      words: message.words && message.words.map((w) => ({ ...w, start_ms: move(w.start_ms), end_ms: move(w.end_ms) })),
    }
  }

  function closed(code) {
    const wasReady = resumeToken !== null || phase === 'live'
    if (phase === 'ended') return
    if (handover && phase === 'live') {
      // A new session from the end of the last final: what the old one heard after it is heard again. (If that
      // one cannot open either, the close below is the caller's, as for any session that never became ready.)
      offsetMs = heardTo / bytesPerMs
      resumeToken = null
      instance = null
      lastSeq = 0
      phase = 'connecting'
      socket = null
      settings.onReconnecting && settings.onReconnecting({ attempt: 1, afterMs: 0, reason: 'server_shutting_down' })
      open('')
      return
    }
    if (sessionOver || code === 1000 || !resumeToken) {
      phase = 'ended'
      socket = null
      settings.onClosed && settings.onClosed(code, { ready: wasReady })
      return
    }
    // Dropped: reconnect and resume.
    if (phase === 'live') droppedAt = Date.now()
    phase = 'offline'
    socket = null
    const waited = Date.now() - droppedAt
    if (waited >= settings.resumeWindowMs) return lose('resume_window_passed', `no connection to the server for ${Math.round(waited / 1000)} s`)
    const afterMs = settings.backoffMs[Math.min(attempts, settings.backoffMs.length - 1)]
    attempts += 1
    settings.onReconnecting && settings.onReconnecting({ attempt: attempts, afterMs })
    retryTimer = setTimeout(() => {
      retryTimer = null
      const at = instance ? `&instance=${encodeURIComponent(instance)}` : ''
      if (phase === 'offline') open(`resume_token=${encodeURIComponent(resumeToken)}&last_seq=${lastSeq}${at}`)
    }, afterMs)
  }

  function lose(code, message) {
    phase = 'ended'
    clearTimeout(retryTimer)
    const lost = socket
    socket = null
    if (lost) { try { lost.close(1000) } catch (e) {} }
    settings.onLost && settings.onLost({ code, message })
  }

  open('')
  return {
    // PCM bytes (Uint8Array or ArrayBuffer) recorded now.
    push(data) {
      if (phase === 'ended' || endRequested) return
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
      if (!bytes.length) return
      chunks.push({ offset: total, bytes })
      total += bytes.length
      while (chunks.length > 1 && chunks[1].offset <= total - maxBufferBytes) chunks.shift()
      if (phase === 'live') socket.send(bytes)
    },
    // No more audio: `end` goes out now, or once the server is ready or the session resumed.
    end() {
      if (endRequested || phase === 'ended') return
      endRequested = true
      if (phase === 'live') socket.send('{"type":"end"}')
    },
    // Gives up the session (the socket is closed with 1000: the server ends it).
    close() {
      phase = 'ended'
      clearTimeout(retryTimer)
      if (socket) { try { socket.close(1000) } catch (e) {} }
      socket = null
    },
    // Sends a text message (ping) when connected.
    sendText(text) { if (phase === 'live') socket.send(text) },
  }
}
