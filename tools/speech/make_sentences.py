"""Synthesises the read-sentence corpus; see make_sentences.sh.

Sentences: lines of the text (speaker names and stage directions left out),
lower-cased, punctuation removed (apostrophes inside words kept), 3 to 8
words. Voices: espeak-ng accents x voice variants, and the flite voices; each
utterance draws a voice of its set, a speed and a pitch from seeded
generators, so a run is reproducible. Validation and test voices (accent and
variant together, or the flite voice) never occur in training.
"""

import argparse
import json
import os
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
           "en-gb-x-gbcwmd", "en-029"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "f4", "f5"]
FLITE = ["kal", "awb", "rms", "slt"]

# Held-out voices: never in training.
VALID = [("espeak", "en-029", "m3"), ("espeak", "en-gb", "f4"), ("flite", "rms", None)]
TEST = [("espeak", "en-gb-scotland", "f3"), ("espeak", "en-us", "m4"),
        ("espeak", "en-gb-x-rp", "f2"), ("flite", "slt", None)]


def sentences(path):
    out, seen = [], set()
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.endswith(":") or line.isupper():
            continue
        text = line.lower()
        text = re.sub(r"[^a-z' ]+", " ", text)
        text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
        words = text.split()
        if 3 <= len(words) <= 8:
            s = " ".join(words)
            if s not in seen:
                seen.add(s)
                out.append(s)
    return out


def speak(job):
    (engine, accent, variant), text, speed, pitch, path = job
    if engine == "espeak":
        cmd = ["espeak-ng", "-v", f"{accent}+{variant}", "-s", str(speed), "-p", str(pitch),
               "-w", path, text]
    else:
        stretch = 160.0 / speed
        cmd = ["flite", "-voice", accent, "--setf", f"duration_stretch={stretch:.3f}",
               "--setf", f"int_f0_target_mean={80 + pitch * 1.5:.0f}", "-t", text, "-o", path]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--text", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--valid", type=int, default=200)
    p.add_argument("--test", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    held = set(VALID) | set(TEST)
    train_voices = [("espeak", acc, var) for acc in ACCENTS for var in VARIANTS
                    if ("espeak", acc, var) not in held]
    train_voices += [("flite", v, None) for v in FLITE if ("flite", v, None) not in held]
    all_sentences = sentences(a.text)
    rng = random.Random(a.seed)
    rng.shuffle(all_sentences)
    # Test and validation sentences are not spoken in training either.
    n_test, n_valid = a.test, a.valid
    pools = {
        "test": all_sentences[:n_test],
        "valid": all_sentences[n_test:n_test + n_valid],
        "train": all_sentences[n_test + n_valid:],
    }
    os.makedirs(os.path.join(a.out, "audio"), exist_ok=True)
    jobs, manifests = [], {}
    for name, voices, count in [("train", train_voices, a.train), ("valid", VALID, a.valid),
                                ("test", TEST, a.test)]:
        lines = []
        pool = pools[name]
        for i in range(count):
            voice = voices[rng.randrange(len(voices))]
            text = pool[i % len(pool)]
            speed = rng.randint(130, 200)
            pitch = rng.randint(25, 75)
            rel = f"audio/{name}-{i:05d}.wav"
            jobs.append((voice, text, speed, pitch, os.path.join(a.out, rel)))
            who = voice[1] + (f"+{voice[2]}" if voice[2] else "")
            lines.append({"audio_filepath": rel, "text": text, "speaker": f"{voice[0]}:{who}"})
        manifests[name] = lines
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(speak, jobs))
    for name, lines in manifests.items():
        with open(os.path.join(a.out, f"{name}.json"), "w", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")
    print(f"{a.out}: {a.train} / {a.valid} / {a.test} utterances, "
          f"{len(train_voices)} training voices, {len(VALID)} validation, {len(TEST)} test; "
          f"{len(all_sentences)} sentences")


if __name__ == "__main__":
    main()
