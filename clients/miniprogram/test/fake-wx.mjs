// A fake `wx` for Node: RecorderManager plays a PCM file at real-time pace, connectSocket is a real WebSocket
// (Debian's node-ws), uploadFile a real multipart POST (fetch). Only the device is simulated, not the network.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const WebSocket = require('ws')

function wav(pcm, sampleRate) {
  const header = Buffer.alloc(44)
  header.write('RIFF', 0); header.writeUInt32LE(36 + pcm.length, 4); header.write('WAVE', 8)
  header.write('fmt ', 12); header.writeUInt32LE(16, 16); header.writeUInt16LE(1, 20); header.writeUInt16LE(1, 22)
  header.writeUInt32LE(sampleRate, 24); header.writeUInt32LE(sampleRate * 2, 28); header.writeUInt16LE(2, 32); header.writeUInt16LE(16, 34)
  header.write('data', 36); header.writeUInt32LE(pcm.length, 40)
  return Buffer.concat([header, pcm])
}

export function fakeWx(pcmPath) {
  const speech = readFileSync(pcmPath)
  const calls = { connectSocket: [], uploadFile: [], recorderStarts: [] }
  const listeners = {}
  const recorder = {
    onFrameRecorded: (f) => { listeners.frame = f },
    onStop: (f) => { listeners.stop = f },
    onStart: (f) => { listeners.start = f },
    onError: (f) => { listeners.error = f },
    start(options) {
      calls.recorderStarts.push(options)
      if (options.format === 'PCM' && !(options.encodeBitRate >= 24000 && options.encodeBitRate <= 96000)) throw new Error('encodeBitRate out of range for 16 kHz')
      const frameBytes = (options.frameSize || 2) * 1024
      let offset = 0
      const recorded = []
      this.running = true
      // Speech, then silence for as long as the "user" keeps the button pressed.
      this.timer = setInterval(() => {
        const frame = offset < speech.length ? speech.subarray(offset, offset + frameBytes) : Buffer.alloc(frameBytes)
        offset += frameBytes
        recorded.push(frame)
        if (options.format === 'PCM' && listeners.frame) listeners.frame({ frameBuffer: frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length), isLastFrame: false })
      }, (frameBytes / 2 / options.sampleRate) * 1000)
      this.finish = () => {
        clearInterval(this.timer)
        this.running = false
        const pcm = Buffer.concat(recorded)
        if (options.format === 'PCM' && listeners.frame) listeners.frame({ frameBuffer: new ArrayBuffer(0), isLastFrame: true })
        const file = join(mkdtempSync(join(tmpdir(), 'fake-wx-')), 'recording.wav')
        writeFileSync(file, wav(pcm, options.sampleRate))
        setTimeout(() => listeners.stop && listeners.stop({ tempFilePath: file, duration: pcm.length / 2 / options.sampleRate * 1000, fileSize: pcm.length }), 5)
      }
    },
    stop() { if (this.running) this.finish() },
  }
  return {
    calls,
    hide: () => listeners.appHide && listeners.appHide(),
    onAppHide: (f) => { listeners.appHide = f },
    getRecorderManager: () => recorder,
    connectSocket({ url, header }) {
      calls.connectSocket.push({ url, header })
      const socket = new WebSocket(url, { headers: header })
      const task = {
        send: ({ data }) => socket.readyState === WebSocket.OPEN && socket.send(typeof data === 'string' ? data : Buffer.from(data)),
        close: ({ code } = {}) => socket.close(code || 1000),
        onOpen: (f) => socket.on('open', () => f({})),
        onMessage: (f) => socket.on('message', (data, isBinary) => f({ data: isBinary ? data : data.toString() })),
        onError: (f) => socket.on('error', (error) => f({ errMsg: error.message })),
        onClose: (f) => socket.on('close', (code, reason) => f({ code, reason: reason.toString() })),
      }
      socket.on('unexpected-response', (request, response) => { socket.emit('error', new Error(`Unexpected server response: ${response.statusCode}`)); socket.emit('close', 1006, Buffer.from('')) })
      return task
    },
    uploadFile({ url, filePath, name, header, formData, success, fail, complete }) {
      calls.uploadFile.push({ url, name, formData })
      const form = new FormData()
      for (const [key, value] of Object.entries(formData || {})) form.append(key, value)
      form.append(name, new Blob([readFileSync(filePath)]), 'recording.aac')
      fetch(url, { method: 'POST', headers: header, body: form })
        .then(async (response) => success({ statusCode: response.status, data: await response.text() }))
        .catch((error) => fail({ errMsg: error.message }))
        .finally(() => complete && complete())
    },
  }
}
