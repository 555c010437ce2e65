/* Streaming a language model from C with irnn's integer runtime: load an
 * .irnn file, feed a prompt one character per call, then continue by
 * integer argmax over the int32 logits.
 *
 *   cargo build --release -p irnn-capi
 *   cc examples/c/stream.c -Icrates/irnn-capi/include target/release/libirnn_capi.a \
 *      -lpthread -ldl -lm -o stream
 *   ./stream fixtures/models/lm.irnn "ROMEO:" 40
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irnn.h"

static int fail(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, irnn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "fixtures/models/lm.irnn";
    const char *prompt = argc > 2 ? argv[2] : "ROMEO:";
    int tokens = argc > 3 ? atoi(argv[3]) : 40;

    IrnnModel *model = NULL;
    if (irnn_model_load_path(path, &model) != IRNN_STATUS_OK) return fail("loading the model");
    uintptr_t classes = 0;
    irnn_model_classes(model, &classes);
    IrnnState *state = NULL;
    if (irnn_state_new(model, &state) != IRNN_STATUS_OK) return fail("creating a state");
    int32_t *logits = malloc(classes * sizeof *logits);

    /* The prompt, one ASCII character per call. */
    for (const char *c = prompt; *c; c++) {
        char token[2] = {*c, 0};
        uint32_t id;
        if (irnn_model_token_id(model, token, &id) != IRNN_STATUS_OK) return fail("prompt");
        if (irnn_step(model, state, id, logits, classes) != IRNN_STATUS_OK) return fail("step");
    }
    printf("%s", prompt);
    /* The continuation: the most likely next token, fed back in. */
    for (int t = 0; t < tokens; t++) {
        uint32_t best = 0;
        for (uint32_t k = 1; k < classes; k++)
            if (logits[k] > logits[best]) best = k;
        char text[64];
        uintptr_t len = 0;
        if (irnn_model_token(model, best, text, sizeof text, &len) != IRNN_STATUS_OK)
            return fail("token text");
        printf("%s", text);
        if (irnn_step(model, state, best, logits, classes) != IRNN_STATUS_OK) return fail("step");
    }
    printf("\n");

    /* Bad input is an error code and a message, never a crash. */
    IrnnModel *none = NULL;
    if (irnn_model_load_path("/no/such/model.irnn", &none) == IRNN_STATUS_OK) return 1;
    if (strstr(irnn_last_error(), "/no/such/model.irnn") == NULL) return 1;
    if (irnn_step(model, state, 0, logits, 1) != IRNN_STATUS_INVALID_ARGUMENT) return 1;
    if (irnn_step(NULL, state, 0, logits, classes) != IRNN_STATUS_NULL_POINTER) return 1;

    free(logits);
    irnn_state_free(state);
    irnn_model_free(model);
    return 0;
}
