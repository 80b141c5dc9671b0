// One press of the button with the mini-program module, against a live server, for the Python tests that cut the
// network under it (tests/python/test_miniprogram_resume.py). The fake `wx` plays SPEECH_PCM at real-time pace; the
// button is held for SPEECH_SECONDS plus 1.2 s. Prints one JSON line: what the app saw.
import { createRecognizer } from '../realtime-voice.js'
import { fakeWx } from './fake-wx.mjs'

const { SERVER_URL, TOKEN, SPEECH_PCM, SPEECH_SECONDS, LANG } = process.env

const wx = fakeWx(SPEECH_PCM)
const seen = { partials: [], finals: [], errors: [], fallbacks: [], reconnecting: [], resumed: [], states: [] }
const started = Date.now()
const recognizer = createRecognizer({
  wx, url: SERVER_URL, token: TOKEN, lang: LANG || 'en-US',
  onPartial: (text) => seen.partials.push(text),
  onFinal: (segment) => seen.finals.push(segment),
  onError: (error) => seen.errors.push(error),
  onFallback: (reason) => seen.fallbacks.push(reason),
  onReconnecting: (attempt) => seen.reconnecting.push({ ...attempt, atMs: Date.now() - started }),
  onResumed: (resumed) => seen.resumed.push({ ...resumed, atMs: Date.now() - started }),
  onStateChange: (state) => seen.states.push(state),
  onComplete: () => {
    console.log(JSON.stringify({ ...seen, sockets: wx.calls.connectSocket.map((c) => c.url), uploads: wx.calls.uploadFile.length }))
    process.exit(0)
  },
})
recognizer.start()
setTimeout(() => recognizer.stop(), (Number(SPEECH_SECONDS) + 1.2) * 1000)
setTimeout(() => { console.log(JSON.stringify({ ...seen, timedOut: true })); process.exit(1) }, (Number(SPEECH_SECONDS) + 60) * 1000)
