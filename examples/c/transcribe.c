/* Transcribing a 16-bit PCM WAV file from C with irnn's integer speech
 * runtime: the samples go in as int16, the text comes out.
 *
 *   cargo build --release -p irnn-capi
 *   cc examples/c/transcribe.c -Icrates/irnn-capi/include target/release/libirnn_capi.a \
 *      -lpthread -ldl -lm -o transcribe
 *   ./transcribe fixtures/models/asr-qat.irnn fixtures/fsdd/2_yweweler_0.wav
 *
 * With a third argument `--stream` (a unidirectional model), the samples go
 * in 200 ms at a time, as a recorder would deliver them, and the transcript
 * grows as they arrive; the final text is the offline one:
 *
 *   ./transcribe fixtures/models-v7/asr-stream-qat.irnn fixtures/fsdd/2_yweweler_0.wav --stream
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irnn.h"

static uint32_t u32le(const unsigned char *p) {
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* A minimal reader for mono 16-bit PCM WAV files (any chunk order). */
static int16_t *read_wav(const char *path, uint32_t *rate, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char head[12], chunk[8], fmt[16];
    int16_t *samples = NULL;
    int format_ok = 0;
    if (fread(head, 1, 12, f) != 12 || memcmp(head, "RIFF", 4) || memcmp(head + 8, "WAVE", 4))
        goto done;
    while (fread(chunk, 1, 8, f) == 8) {
        uint32_t size = u32le(chunk + 4);
        if (!memcmp(chunk, "fmt ", 4) && size >= 16) {
            if (fread(fmt, 1, 16, f) != 16) goto done;
            fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR);
            *rate = u32le(fmt + 4);
            format_ok = fmt[0] == 1 && fmt[1] == 0 && fmt[2] == 1 && fmt[14] == 16;
        } else if (!memcmp(chunk, "data", 4) && format_ok) {
            *count = size / 2;
            samples = malloc(size ? size : 1);
            if (samples && fread(samples, 2, *count, f) != *count) {
                free(samples);
                samples = NULL;
            }
            goto done;
        } else {
            fseek(f, (long)(size + (size & 1)), SEEK_CUR);
        }
    }
done:
    fclose(f);
    return samples; /* little-endian hosts: the bytes are the int16 values */
}

static int fail(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, irnn_last_error());
    return 1;
}

/* Streams `count` samples in chunks of 200 ms; the final transcript into
 * `text`. */
static int stream(IrnnSpeechModel *model, const int16_t *pcm, size_t count, uint32_t rate,
                  char *text, size_t capacity) {
    IrnnSpeechStream *s = NULL;
    if (irnn_speech_stream_new(model, rate, &s) != IRNN_STATUS_OK) return fail("streaming");
    size_t chunk = rate / 5 ? rate / 5 : 1;
    int32_t grew = 0;
    uintptr_t len = 0;
    for (size_t at = 0; at < count; at += chunk) {
        size_t n = count - at < chunk ? count - at : chunk;
        if (irnn_speech_stream_push(s, pcm + at, n, &grew) != IRNN_STATUS_OK) return fail("push");
        if (grew && irnn_speech_stream_text(s, text, capacity, &len) == IRNN_STATUS_OK)
            fprintf(stderr, "%6.2f s: %s\n", (double)(at + n) / rate, text);
    }
    if (irnn_speech_stream_finish(s, &grew) != IRNN_STATUS_OK) return fail("finish");
    if (irnn_speech_stream_text(s, text, capacity, &len) != IRNN_STATUS_OK) return fail("text");
    irnn_speech_stream_free(s);
    return 0;
}

int main(int argc, char **argv) {
    const char *model_path = argc > 1 ? argv[1] : "fixtures/models/asr-qat.irnn";
    const char *wav = argc > 2 ? argv[2] : "fixtures/fsdd/2_yweweler_0.wav";

    IrnnSpeechModel *model = NULL;
    if (irnn_speech_load_path(model_path, &model) != IRNN_STATUS_OK) return fail("loading the model");
    uint32_t rate = 0;
    size_t count = 0;
    int16_t *pcm = read_wav(wav, &rate, &count);
    if (!pcm) {
        fprintf(stderr, "error: %s: not a mono 16-bit PCM WAV file\n", wav);
        return 1;
    }
    char text[256];
    uintptr_t len = 0;
    if (argc > 3 && !strcmp(argv[3], "--stream")) {
        if (stream(model, pcm, count, rate, text, sizeof text)) return 1;
    } else if (irnn_speech_transcribe(model, pcm, count, rate, text, sizeof text, &len) !=
               IRNN_STATUS_OK) {
        return fail(wav);
    }
    printf("%s\t%s\n", wav, text);

    /* Audio at another rate is resampled; a rate of 0 is an error code. */
    if (irnn_speech_transcribe(model, pcm, count, 0, text, sizeof text, &len) !=
        IRNN_STATUS_INVALID_ARGUMENT)
        return 1;
    if (strstr(irnn_last_error(), "Hz") == NULL) return 1;

    free(pcm);
    irnn_speech_free(model);
    return 0;
}
