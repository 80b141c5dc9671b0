/// The web page at `/`: talk into the microphone and watch the transcript, or upload a recording.
/// Plain HTML, CSS and JavaScript, no build step; the microphone is captured with an AudioWorklet, downsampled to
/// 16 kHz PCM in the page and streamed to `/api/realtime-voice/stream`.
enum WebPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>realtime-voice</title>
        <style>
          :root { --ink: #1d2433; --muted: #667085; --line: #e4e7ec; --accent: #2f6fed; --bad: #c4320a; --ok: #067647; }
          * { box-sizing: border-box; }
          body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "PingFang SC", sans-serif;
            color: var(--ink); background: #f8f9fb; }
          main { max-width: 720px; margin: 0 auto; padding: 24px 16px 48px; }
          h1 { font-size: 22px; margin: 0 0 4px; }
          .sub { color: var(--muted); margin: 0 0 20px; }
          .card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 16px; margin-bottom: 16px; }
          label { display: block; font-size: 14px; color: var(--muted); margin-bottom: 4px; }
          input[type=text], select { width: 100%; padding: 10px 12px; border: 1px solid var(--line); border-radius: 8px; font: inherit; }
          .row { display: flex; gap: 12px; flex-wrap: wrap; }
          .row > div { flex: 1 1 200px; }
          .tabs { display: flex; gap: 8px; margin-bottom: 12px; }
          .tabs button { flex: 1; padding: 10px; border: 1px solid var(--line); background: #fff; border-radius: 8px;
            font: inherit; cursor: pointer; }
          .tabs button[aria-selected=true] { border-color: var(--accent); color: var(--accent); font-weight: 600; }
          #talk { width: 100%; padding: 18px; font-size: 18px; font-weight: 600; border: 0; border-radius: 12px;
            background: var(--accent); color: #fff; cursor: pointer; touch-action: none; }
          #talk.live { background: var(--bad); }
          #status { margin: 12px 0 0; font-size: 14px; color: var(--muted); min-height: 21px; }
          #status.error { color: var(--bad); }
          #partial { color: var(--muted); font-style: italic; min-height: 24px; margin: 12px 0 0; }
          #transcript { list-style: none; padding: 0; margin: 8px 0 0; }
          #transcript li { padding: 8px 0; border-top: 1px solid var(--line); }
          #transcript .time { color: var(--muted); font-size: 13px; margin-right: 8px; font-variant-numeric: tabular-nums; }
          #upload-result { margin-top: 12px; white-space: pre-wrap; }
          button.secondary { padding: 10px 16px; border: 1px solid var(--accent); color: var(--accent); background: #fff;
            border-radius: 8px; font: inherit; cursor: pointer; }
        </style>
        </head>
        <body>
        <main>
          <h1>realtime-voice</h1>
          <p class="sub">Speak and watch the words appear, or upload a recording.</p>
          <div class="card">
            <div class="row">
              <div><label for="token">Token</label><input id="token" type="text" autocomplete="off" placeholder="the server's token"></div>
              <div><label for="lang">Language</label><select id="lang"><option value="zh-CN">中文</option>\#
        <option value="en-US">English</option></select></div>
            </div>
          </div>
          <div class="tabs" role="tablist">
            <button id="tab-live" role="tab" aria-selected="true">Microphone</button>
            <button id="tab-upload" role="tab" aria-selected="false">Upload a file</button>
          </div>
          <section id="panel-live" class="card">
            <button id="talk">Hold to talk</button>
            <p id="status">Press and hold (or click to start, click again to stop).</p>
            <p id="partial"></p>
            <ul id="transcript"></ul>
          </section>
          <section id="panel-upload" class="card" hidden>
            <label for="file">A recording (WAV, MP3, M4A, Ogg, WebM, FLAC)</label>
            <input id="file" type="file" accept="audio/*">
            <p><button id="send" class="secondary">Recognise</button></p>
            <div id="upload-result"></div>
          </section>
        </main>
        <script type="module" src="/app.js"></script>
        </body>
        </html>
        """#

    static let script = #"""
        import { createResumableStream } from "/resumable-stream.js";
        const $ = (id) => document.getElementById(id);
        const params = new URLSearchParams(location.search);
        $("token").value = params.get("token") || localStorage.getItem("realtime-voice-token") || "";
        $("token").addEventListener("change", () => localStorage.setItem("realtime-voice-token", $("token").value.trim()));
        // The language: ?lang=, else the last one chosen, else the browser's first (中文 for any zh-*, English otherwise).
        const browserLanguage = ((navigator.languages && navigator.languages[0]) || navigator.language || "").toLowerCase();
        $("lang").value = params.get("lang") || localStorage.getItem("realtime-voice-lang") || (browserLanguage.startsWith("zh") ? "zh-CN" : "en-US");
        if (!$("lang").value) $("lang").value = "en-US";
        $("lang").addEventListener("change", () => localStorage.setItem("realtime-voice-lang", $("lang").value));

        const MESSAGES = {
          unauthorized: "The token was refused: check it with whoever runs this server.",
          busy: "The recognizer is busy right now; try again in a moment.",
          overloaded: "The server fell behind your audio; try again in a moment.",
          idle_timeout: "Stopped: no audio arrived for a while.",
          max_duration: "Stopped: the session reached its maximum length.",
          unsupported_language: "This server's engine does not recognise that language.",
          engine_unavailable: "The recognizer is restarting; try again in a few seconds.",
          unknown_engine: "This server does not have that engine.",
          upstream_rejected: "The cloud recognizer refused the request (server configuration).",
          upstream_failed: "The cloud recognizer failed; try again.",
          missing_audio: "Choose a recording first.",
          unsupported_format: "That file is not a recording this server understands.",
          undecodable_audio: "That recording could not be decoded (is it complete?).",
          audio_too_large: "That file is too large for this server.",
          audio_too_long: "That recording is too long for this server.",
        };
        const explain = (code, message) => MESSAGES[code] || message || code;
        function setStatus(text, isError) { $("status").textContent = text; $("status").classList.toggle("error", !!isError); }
        function timeOf(ms) { const s = Math.floor(ms / 1000); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; }

        // Tabs.
        for (const [tab, panel] of [["tab-live", "panel-live"], ["tab-upload", "panel-upload"]]) {
          $(tab).addEventListener("click", () => {
            for (const [t, p] of [["tab-live", "panel-live"], ["tab-upload", "panel-upload"]]) {
              $(t).setAttribute("aria-selected", String(t === tab));
              $(p).hidden = p !== panel;
            }
          });
        }

        // The AudioWorklet hands 128-sample blocks of the microphone to the page.
        const WORKLET = `class Tap extends AudioWorkletProcessor {
          process(inputs) { const c = inputs[0] && inputs[0][0]; if (c) this.port.postMessage(c.slice(0)); return true; }
        }
        registerProcessor("tap", Tap);`;

        class Downsampler {
          constructor(inputRate, outputRate) { this.ratio = inputRate / outputRate; this.position = 0; this.buffer = new Float32Array(0); }
          // Averages the input samples that fall in each output sample's span (a box filter: enough against aliasing
          // for speech recognition at 16 kHz).
          push(input) {
            const joined = new Float32Array(this.buffer.length + input.length);
            joined.set(this.buffer); joined.set(input, this.buffer.length);
            const out = [];
            let position = this.position;
            while (position + this.ratio <= joined.length) {
              const start = Math.floor(position), end = Math.floor(position + this.ratio);
              let sum = 0; for (let i = start; i < end; i++) sum += joined[i];
              out.push(sum / Math.max(1, end - start));
              position += this.ratio;
            }
            const keep = Math.floor(position);
            this.buffer = joined.slice(keep); this.position = position - keep;
            const pcm = new Int16Array(out.length);
            for (let i = 0; i < out.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(out[i] * 32767)));
            return pcm;
          }
        }

        let session = null;

        let starting = false;

        async function start() {
          if (starting || session) return;
          starting = true;
          try { await open(); } finally { starting = false; }
        }

        async function open() {
          const token = $("token").value.trim();
          if (!token) { setStatus("Enter the server's token first.", true); $("token").focus(); return; }
          localStorage.setItem("realtime-voice-token", token);
          // A browser cannot read why a WebSocket handshake was refused: the token is checked over HTTP first.
          try {
            const check = await fetch("/api/realtime-voice/debug/headers", { headers: { token } });
            if (check.status === 401) { setStatus(explain("unauthorized"), true); return; }
          } catch (error) {
            setStatus("Cannot reach the server: " + error.message, true); return;
          }
          setStatus("Asking for the microphone…");
          let stream;
          try {
            stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
          } catch (error) {
            setStatus("The microphone is not available: " + (error.message || error.name)
              + ". Allow it in the browser, or use the upload tab.", true);
            return;
          }
          const context = new AudioContext();
          await context.audioWorklet.addModule(URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" })));
          const source = context.createMediaStreamSource(stream);
          const tap = new AudioWorkletNode(context, "tap");
          source.connect(tap);
          const scheme = location.protocol === "https:" ? "wss" : "ws";
          const url = `${scheme}://${location.host}/api/realtime-voice/stream?sample_rate=16000&${languageQuery()}&token=${encodeURIComponent(token)}`;
          const downsampler = new Downsampler(context.sampleRate, 16000);
          let pending = new Int16Array(0);
          // The socket drops (a network change, a proxy recycling connections): the stream reconnects and resumes
          // (resumable-stream.js, shared with the mini-program module), holding the microphone's audio meanwhile.
          const resumable = createResumableStream({
            sampleRate: 16000,
            connect: (extraQuery, handlers) => {
              const socket = new WebSocket(extraQuery ? `${url}&${extraQuery}` : url);
              socket.binaryType = "arraybuffer";
              socket.onmessage = (event) => handlers.message(event.data);
              socket.onclose = (event) => handlers.close(event.code);
              return { send: (data) => socket.send(data), close: (code) => socket.close(code) };
            },
            onMessage: (message) => {
              if (message.type === "ready") {
                setStatus(session && session.ended ? "Finishing…" : "Listening — speak now.");
              }
              else if (message.type === "partial") { $("partial").textContent = message.text; }
              else if (message.type === "final") {
                $("partial").textContent = "";
                if (message.text) {
                  const item = document.createElement("li");
                  item.dataset.segment = message.segment;
                  item.innerHTML = `<span class="time">${timeOf(message.start_ms)}</span>`;
                  item.appendChild(document.createTextNode(message.text));
                  $("transcript").appendChild(item);
                }
              } else if (message.type === "completed") { setStatus(`Done: ${(message.duration_ms / 1000).toFixed(1)} s of audio recognised.`); }
              else if (message.type === "error") { setStatus(explain(message.code, message.message), true); }
            },
            onReconnecting: ({ attempt }) => setStatus(`The connection was lost; reconnecting (attempt ${attempt})…`, true),
            onResumed: () => setStatus(session && session.ended ? "Finishing…" : "Listening — speak now."),
            onLost: ({ message }) => { setStatus("The connection was lost and could not be resumed: " + message, true); teardown(); },
            onClosed: (code, { ready: wasReady }) => {
              if (!session || session.resumable !== resumable) return;
              const errorShown = $("status").classList.contains("error");
              if (!wasReady && !errorShown) setStatus("Cannot open a WebSocket to the server: \#
          a proxy in front of it may not pass WebSocket (run realtime-voice doctor on this address).", true);
              else if (!session.ended && code !== 1000 && !errorShown) setStatus(code === 1006
                ? "The connection to the server was lost." : `The server closed the connection (${code}).`, true);
              teardown();
            },
          });
          // The audio goes out in messages of 100 ms (3200 bytes), the last one shorter.
          function push(samples, all) {
            const joined = new Int16Array(pending.length + samples.length);
            joined.set(pending); joined.set(samples, pending.length);
            let start = 0;
            for (; start + 1600 <= joined.length; start += 1600) resumable.push(new Uint8Array(joined.slice(start, start + 1600).buffer));
            if (all && start < joined.length) { resumable.push(new Uint8Array(joined.slice(start).buffer)); start = joined.length; }
            pending = joined.slice(start);
          }
          function end() {
            push(new Int16Array(0), true);
            resumable.end();
          }
          session = { stream, context, resumable, ended: false, tap, source, end };
          $("talk").classList.add("live"); $("talk").textContent = "Listening… release (or click) to stop";
          setStatus("Connecting…");
          tap.port.onmessage = (event) => push(downsampler.push(event.data), false);
        }

        // The language's query; the server's default engine recognises it (or says unsupported_language).
        function languageQuery() {
          return `lang=${encodeURIComponent($("lang").value)}`;
        }

        function stop() {
          if (!session || session.ended) return;
          session.ended = true;
          setStatus("Finishing…");
          // No more audio after "end": the microphone is detached first, then what is held goes out, then "end".
          session.tap.port.onmessage = null;
          session.source.disconnect();
          session.stream.getTracks().forEach((track) => track.stop());
          // Still connecting, or reconnecting: "end" goes out as soon as the server is ready (resumable-stream.js).
          session.end();
        }

        function teardown() {
          if (!session) return;
          session.resumable.close();
          session.stream.getTracks().forEach((track) => track.stop());
          session.context.close();
          session = null;
          $("talk").classList.remove("live"); $("talk").textContent = "Hold to talk";
        }

        // Press and hold to talk; or click once to start and once more to stop.
        let pressedAt = 0, wasLive = false;
        $("talk").addEventListener("pointerdown", () => { pressedAt = Date.now(); wasLive = !!session; if (!session) start(); });
        $("talk").addEventListener("pointerup", () => { if (wasLive || Date.now() - pressedAt > 400) stop(); });

        // Upload.
        $("send").addEventListener("click", async () => {
          const token = $("token").value.trim();
          const file = $("file").files[0];
          if (!file) { $("upload-result").textContent = explain("missing_audio"); return; }
          $("upload-result").textContent = "Recognising…";
          const form = new FormData();
          form.append("audio", file);
          form.append("lang", $("lang").value);
          try {
            const response = await fetch("/api/realtime-voice/recognize", { method: "POST", headers: { token }, body: form });
            const answer = await response.json();
            $("upload-result").textContent = answer.code === 0 ? (answer.data.text || "(no speech heard)") : explain(answer.error, answer.message);
          } catch (error) {
            $("upload-result").textContent = "The upload failed: " + error.message;
          }
        });
        """#
}
