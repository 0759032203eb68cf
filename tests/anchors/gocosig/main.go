// Independent check of C2SP tlog-cosignature v1 with Go: golang.org/x/mod/sumdb/note opens our cosigned checkpoints.
//
// Go's note package knows only signature type 0x01, so the cosignature verifier below is written from the spec text
// (key hash with type 0x04, 8-byte big-endian timestamp before the Ed25519 signature, "cosignature/v1\ntime <t>\n"
// before the note text) with Go's own crypto/ed25519 and crypto/sha256. Input on stdin: {"note", "log_vkey",
// "witness_name", "witness_key" (base64 32 bytes)}. Output: one JSON line.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/mod/sumdb/note"
)

type cosigV1 struct {
	name string
	key  ed25519.PublicKey
}

func (v cosigV1) Name() string { return v.name }

func (v cosigV1) KeyHash() uint32 {
	h := sha256.New()
	h.Write([]byte(v.name + "\n"))
	h.Write([]byte{0x04})
	h.Write(v.key)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

func (v cosigV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > 1<<63-1 {
		return false
	}
	signed := append([]byte("cosignature/v1\ntime "+strconv.FormatUint(t, 10)+"\n"), msg...)
	return ed25519.Verify(v.key, signed, sig[8:])
}

type input struct {
	Note        string `json:"note"`
	LogVkey     string `json:"log_vkey"`
	WitnessName string `json:"witness_name"`
	WitnessKey  string `json:"witness_key"`
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logV, err := note.NewVerifier(in.LogVkey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	key, err := base64.StdEncoding.DecodeString(in.WitnessKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		fmt.Fprintln(os.Stderr, "bad witness key")
		os.Exit(2)
	}
	out := map[string]any{}
	// The log alone: cosignature lines are unknown keys, ignored; the log signature must verify.
	if n, err := note.Open([]byte(in.Note), note.VerifierList(logV)); err != nil {
		out["log_only"] = err.Error()
	} else {
		out["log_only"] = "ok"
		out["log_only_verified"] = len(n.Sigs)
		out["log_only_unverified"] = len(n.UnverifiedSigs)
	}
	// The log and the witness: both signatures must verify.
	if n, err := note.Open([]byte(in.Note), note.VerifierList(logV, cosigV1{in.WitnessName, key})); err != nil {
		out["with_witness"] = err.Error()
	} else {
		out["with_witness"] = "ok"
		out["with_witness_verified"] = len(n.Sigs)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
