// realtime-voice client for WeChat mini-programs: streams the microphone over a WebSocket and falls back to
// recording a file and uploading it when no WebSocket can be had. Plain ES module, no build step.
//
//   import { createRecognizer } from './realtime-voice.js'
//   const recognizer = createRecognizer({
//     url: 'https://voice.example.com', token: 'TOKEN', lang: 'zh-CN',   // the default; 'en-US' for English
//     onPartial: (text) => this.setData({ partial: text }),
//     onFinal: (segment) => this.setData({ lines: [...this.data.lines, segment.text] }),
//     onError: (error) => wx.showToast({ title: error.message, icon: 'none' }),
//     onFallback: (reason) => console.warn('uploading instead of streaming:', reason),
//     onReconnecting: ({ attempt, afterMs }) => {}, onResumed: ({ receivedMs, instance }) => {},   // optional
//   })
//   recognizer.start()   // on touchstart
//   recognizer.stop()    // on touchend
//
// Facts it relies on (WeChat docs): PCM frames come from RecorderManager.onFrameRecorded (format 'PCM', frameSize
// in KB); encodeBitRate must suit the sample rate or recording fails; at most 5 sockets are open at once (this
// module keeps one); sockets are cut 5 s after the app goes to the background; a recording lasts 10 min at most.
//
// A socket that drops mid-session is reconnected and the session resumed (resumable-stream.js, copied with this
// file: options maxBufferMs and resumeWindowMs, both 30 s by default); a session that cannot be resumed ends with
// onError({ code: 'stream_lost' }).

import { createResumableStream } from './resumable-stream.js'

const BIT_RATES = { 8000: 24000, 11025: 24000, 12000: 32000, 16000: 48000, 22050: 64000, 24000: 64000, 32000: 96000, 44100: 128000, 48000: 128000 }
const MAX_RECORDING_MS = 600000
const PING_INTERVAL_MS = 15000

export function createRecognizer(options) {
  const wx = options.wx || globalThis.wx
  const sampleRate = options.sampleRate || 16000
  const lang = options.lang || 'zh-CN'
  const httpBase = options.url.replace(/^ws/, 'http').replace(/\/+$/, '')
  const socketBase = httpBase.replace(/^http/, 'ws')
  const notify = (name, ...args) => { if (typeof options[name] === 'function') options[name](...args) }
  const recorder = wx.getRecorderManager()

  let mode = 'idle'          // idle | connecting | streaming | ending | switching | recording-file | uploading
  let session = null         // the resumable stream (resumable-stream.js) while streaming
  let pingTimer = null
  let stopRequested = false
  let recorderStopped = false

  // A recorder that cannot start (microphone refused, busy) ends the attempt with a clear error.
  recorder.onError((res) => {
    if (mode === 'idle') return
    closeSocket()
    setMode('idle')
    fail('recorder_failed', (res && res.errMsg) || 'the microphone could not be used')
    notify('onComplete')
  })

  function setMode(next) { mode = next; notify('onStateChange', next) }

  // Forgets the session first, so that its own close handler sees it is no longer current.
  function closeSocket() {
    clearInterval(pingTimer)
    if (!session) return
    const closing = session
    session = null
    closing.close()
  }

  function fail(code, message) {
    notify('onError', { code, message })
  }

  // One wx SocketTask as resumable-stream.js wants a socket: onError and onClose both end it, once.
  function connect(url) {
    return (extraQuery, handlers) => {
      const task = wx.connectSocket({ url: extraQuery ? `${url}&${extraQuery}` : url, header: { token: options.token }, timeout: 10000 })
      let closed = false
      const close = (code) => { if (!closed) { closed = true; handlers.close(code) } }
      task.onMessage((res) => handlers.message(typeof res.data === 'string' ? res.data : new TextDecoder().decode(res.data)))
      task.onError(() => close(1006))
      task.onClose((res) => close(res && res.code))
      return {
        send: (data) => task.send({ data: typeof data === 'string' ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) }),
        close: (code) => task.close({ code }),
      }
    }
  }

  // ---- streaming ---------------------------------------------------------------------------------------
  function startStreaming() {
    setMode('connecting')
    stopRequested = false
    const query = `sample_rate=${sampleRate}&lang=${encodeURIComponent(lang)}`
    const thisSession = createResumableStream({
      sampleRate,
      maxBufferMs: options.maxBufferMs,
      resumeWindowMs: options.resumeWindowMs,
      connect: connect(`${socketBase}/api/realtime-voice/stream?${query}`),
      onMessage: (message) => {
        if (session !== thisSession) return
        if (message.type === 'ready') {
          if (!stopRequested) setMode('streaming')
        } else if (message.type === 'partial') {
          notify('onPartial', message.text, message)
        } else if (message.type === 'final') {
          notify('onFinal', { text: message.text, startMs: message.start_ms, endMs: message.end_ms, words: message.words, language: message.language })
        } else if (message.type === 'completed') {
          finishStreaming()
        } else if (message.type === 'error') {
          fail(message.code, message.message)
        }
      },
      onReconnecting: (attempt) => { if (session === thisSession) notify('onReconnecting', attempt) },
      onResumed: (message) => { if (session === thisSession) notify('onResumed', { receivedMs: message.received_ms, instance: message.instance }) },
      onLost: (lost) => {
        if (session !== thisSession) return
        fail('stream_lost', `the connection was lost and the session could not be resumed (${lost.code}): ${lost.message}`)
        if (!recorderStopped) { stopRequested = true; recorder.stop() }
        finishStreaming()
      },
      onClosed: (code, { ready }) => {
        if (session !== thisSession) return
        if (!ready) return fallBack(`the WebSocket closed before the server was ready (${code})`)
        if (mode === 'streaming' && code !== 1000) return fallBack(`the WebSocket closed unexpectedly (${code})`)
        if (mode !== 'idle') finishStreaming()
      },
    })
    session = thisSession
    pingTimer = setInterval(() => thisSession.sendText('{"type":"ping"}'), PING_INTERVAL_MS)
    recorder.onFrameRecorded((res) => {
      if (mode !== 'connecting' && mode !== 'streaming' && mode !== 'ending') return
      thisSession.push(res.frameBuffer)
      if (res.isLastFrame && stopRequested) thisSession.end()
    })
    recorder.onStop(() => {
      recorderStopped = true
      if (mode === 'switching') return startFileRecording()
      if (mode === 'recording-file' || mode === 'uploading' || mode === 'idle') return
      // The 10-minute cap stops the recorder by itself: end the session as if asked.
      if (!stopRequested) { stopRequested = true; setMode('ending') }
      thisSession.end()
    })
    recorderStopped = false
    recorder.start({ format: 'PCM', sampleRate, numberOfChannels: 1, encodeBitRate: BIT_RATES[sampleRate], frameSize: 2, duration: MAX_RECORDING_MS })
  }

  function finishStreaming() {
    closeSocket()
    setMode('idle')
    notify('onComplete')
  }

  // ---- fallback: record a file, upload it ------------------------------------------------------------
  function fallBack(reason) {
    if (mode === 'recording-file' || mode === 'uploading' || mode === 'idle' || mode === 'switching') return
    closeSocket()
    notify('onFallback', reason)
    if (stopRequested) {
      // The user already let go: what was said went nowhere. Say so; the next start() tries again.
      setMode('idle')
      fail('stream_failed', `${reason}; nothing was recognised, please try again`)
      notify('onComplete')
      return
    }
    // Record a file from now on; the recorder is restarted once its PCM run has stopped (see onStop above).
    setMode('switching')
    recorder.stop()
  }

  function startFileRecording() {
    setMode('recording-file')
    recorder.onStop((res) => {
      if (mode !== 'recording-file') return
      upload(res.tempFilePath)
    })
    recorder.start({ format: 'aac', sampleRate, numberOfChannels: 1, encodeBitRate: BIT_RATES[sampleRate], duration: MAX_RECORDING_MS })
  }

  function upload(filePath) {
    setMode('uploading')
    wx.uploadFile({
      url: `${httpBase}/api/realtime-voice/recognize`,
      filePath,
      name: 'audio',
      header: { token: options.token },
      formData: { lang },
      success: (res) => {
        let answer
        try { answer = JSON.parse(res.data) } catch (e) { answer = { code: res.statusCode, message: 'not a JSON answer' } }
        if (answer.code === 0) notify('onFinal', { text: answer.data.text, startMs: 0, endMs: answer.data.duration_ms, words: [], language: answer.data.language })
        else fail(answer.error || 'upload_failed', answer.message)
      },
      fail: (res) => fail('upload_failed', res.errMsg || 'upload failed'),
      complete: () => { setMode('idle'); notify('onComplete') },
    })
  }

  // Sockets are cut 5 s after the app goes to the background: end the session cleanly while it still can.
  const onAppHide = () => { if (mode === 'connecting' || mode === 'streaming' || mode === 'recording-file') api.stop() }
  if (typeof wx.onAppHide === 'function') wx.onAppHide(onAppHide)

  // ---- public -----------------------------------------------------------------------------------------
  const api = {
    start() {
      if (mode !== 'idle') return
      if (options.forceUpload) { notify('onFallback', 'forceUpload is set'); startFileRecording() } else startStreaming()
    },
    stop() {
      if (mode === 'recording-file') { recorder.stop(); return }
      if (mode === 'connecting' || mode === 'streaming') { stopRequested = true; setMode('ending'); recorder.stop() }
    },
    // Stops listening for the app going to the background (call it when the page unloads).
    destroy() {
      if (typeof wx.offAppHide === 'function') wx.offAppHide(onAppHide)
    },
    get state() { return mode },
  }
  return api
}
