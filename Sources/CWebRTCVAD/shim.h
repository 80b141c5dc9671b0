// The WebRTC voice activity detector (the GMM VAD of common_audio/vad), as exported by Debian's
// libwebrtc-audio-processing1 (0.3). Its -dev package installs only the C++ AudioProcessing headers, so the
// VAD's C functions are declared here, exactly as in that release's webrtc/common_audio/vad/include/webrtc_vad.h.
#ifndef REALTIME_VOICE_WEBRTC_VAD_SHIM_H
#define REALTIME_VOICE_WEBRTC_VAD_SHIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct WebRtcVadInst VadInst;

/// A new VAD instance (NULL when out of memory); call WebRtcVad_Init before use.
VadInst *WebRtcVad_Create(void);
void WebRtcVad_Free(VadInst *handle);
/// 0 on success, -1 on a NULL handle.
int WebRtcVad_Init(VadInst *handle);
/// Aggressiveness 0 (least) to 3 (most likely to call a frame non-speech); 0 on success.
int WebRtcVad_set_mode(VadInst *handle, int mode);
/// 1 speech, 0 not speech, -1 error. fs: 8000, 16000, 32000 or 48000; frame_length: 10, 20 or 30 ms of samples.
int WebRtcVad_Process(VadInst *handle, int fs, const int16_t *audio_frame, size_t frame_length);
/// 0 when the rate and frame length are ones WebRtcVad_Process takes.
int WebRtcVad_ValidRateAndFrameLength(int rate, size_t frame_length);

#endif
