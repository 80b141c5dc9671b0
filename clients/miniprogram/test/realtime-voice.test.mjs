// The mini-program client against a live server (run by tests/python/test_miniprogram_client.py, which provides
// the URLs, the speech and the engine's own transcript of it).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRecognizer } from '../realtime-voice.js'
import { fakeWx } from './fake-wx.mjs'

import { writeFileSync } from 'node:fs'

const { SERVER_URL, BROKEN_URL, TOKEN, SPEECH_PCM, EXPECTED_TEXT, SPEECH_SECONDS } = process.env
// A Mandarin recording and a server on engine whisper; the Python side scores what this test writes to MANDARIN_OUT.
const { MANDARIN_URL, MANDARIN_PCM, MANDARIN_SECONDS, MANDARIN_OUT } = process.env

function run(url, extra = {}, pcm = SPEECH_PCM, seconds = SPEECH_SECONDS) {
  const wx = fakeWx(pcm)
  const seen = { partials: [], finals: [], errors: [], fallbacks: [] }
  return new Promise((resolve) => {
    const recognizer = createRecognizer({
      wx, url, token: TOKEN, lang: 'en-US', ...extra,
      onPartial: (text) => seen.partials.push(text),
      onFinal: (segment) => seen.finals.push(segment),
      onError: (error) => seen.errors.push(error),
      onFallback: (reason) => seen.fallbacks.push(reason),
      onComplete: () => resolve({ seen, wx, recognizer }),
    })
    recognizer.start()
    // Hold the button for the length of the speech, plus a little silence.
    setTimeout(() => recognizer.stop(), (Number(seconds) + 1.2) * 1000)
  })
}

const text = (finals) => finals.map((f) => f.text).filter(Boolean).join(' ')

test('streams PCM frames over the WebSocket and gets the engine\'s transcript live', async () => {
  const { seen, wx } = await run(SERVER_URL)
  assert.deepEqual(seen.errors, [])
  assert.deepEqual(seen.fallbacks, [])
  assert.ok(seen.partials.length > 0, 'partials arrive while speaking')
  assert.equal(text(seen.finals), EXPECTED_TEXT)
  assert.equal(wx.calls.connectSocket.length, 1)
  assert.equal(wx.calls.connectSocket[0].header.token, TOKEN)
  assert.equal(wx.calls.recorderStarts[0].format, 'PCM')
  assert.equal(wx.calls.uploadFile.length, 0)
})

test('falls back to recording a file and uploading it when the upgrade is refused (the seed\'s 404)', async () => {
  const { seen, wx } = await run(BROKEN_URL)
  assert.equal(seen.fallbacks.length, 1)
  assert.match(seen.fallbacks[0], /WebSocket/)
  assert.deepEqual(seen.errors, [])
  assert.equal(wx.calls.uploadFile.length, 1)
  assert.equal(wx.calls.uploadFile[0].name, 'audio')
  assert.equal(text(seen.finals), EXPECTED_TEXT)
  assert.deepEqual(wx.calls.recorderStarts.map((o) => o.format), ['PCM', 'aac'])
})

test('forceUpload skips the WebSocket', async () => {
  const { seen, wx } = await run(SERVER_URL, { forceUpload: true })
  assert.equal(wx.calls.connectSocket.length, 0)
  assert.equal(text(seen.finals), EXPECTED_TEXT)
})

test('going to the background ends the session cleanly with what was recognised', async () => {
  const wx = fakeWx(SPEECH_PCM)
  const finals = []
  await new Promise((resolve) => {
    const recognizer = createRecognizer({ wx, url: SERVER_URL, token: TOKEN, lang: 'en-US', onFinal: (f) => finals.push(f), onComplete: resolve })
    recognizer.start()
    setTimeout(() => wx.hide(), (Number(SPEECH_SECONDS) + 1.2) * 1000)
  })
  assert.equal(text(finals), EXPECTED_TEXT)
})

test('released before the server is ready: the held audio is sent, then the end', async () => {
  const wx = fakeWx(SPEECH_PCM)
  const finals = []
  const errors = []
  await new Promise((resolve) => {
    const recognizer = createRecognizer({ wx, url: SERVER_URL, token: TOKEN, lang: 'en-US', onFinal: (f) => finals.push(f), onError: (e) => errors.push(e), onComplete: resolve })
    recognizer.start()
    recognizer.stop()  // at once: nothing recorded yet, the socket still connecting
  })
  assert.deepEqual(errors, [])
})

test('speaks Mandarin by default: lang=zh-CN on the socket, Simplified finals from engine whisper', async () => {
  const { seen, wx } = await run(MANDARIN_URL, { lang: undefined }, MANDARIN_PCM, MANDARIN_SECONDS)
  assert.deepEqual(seen.errors, [])
  assert.match(wx.calls.connectSocket[0].url, /[?&]lang=zh-CN(&|$)/)
  assert.ok(seen.finals.length > 0 && seen.finals.every((f) => f.language === 'zh-CN'), JSON.stringify(seen.finals))
  writeFileSync(MANDARIN_OUT, JSON.stringify(seen.finals.map((f) => f.text)))
})
