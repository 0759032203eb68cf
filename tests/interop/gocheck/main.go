// gocheck verifies TrustLedger's checkpoint, tiles and proofs with Go's golang.org/x/mod/sumdb/note and tlog:
// an independent implementation of the formats of DESIGN §4. It also checks the checkpoint's status-map line and
// status map proofs (DESIGN §4b) with its own compact sparse Merkle tree verifier, written from the spec alone.
// Input: one JSON document on stdin.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proof struct {
	LeafIndex int64    `json:"leaf_index"`
	TreeSize  int64    `json:"tree_size"`
	First     int64    `json:"first"`
	Second    int64    `json:"second"`
	Hashes    []string `json:"hashes"`
}

type statusProof struct {
	Identifier string            `json:"identifier"`
	Value      *string           `json:"value"`
	Leaf       map[string]string `json:"leaf"`
	Siblings   []string          `json:"siblings"`
	Present    bool              `json:"present"`
}

type input struct {
	StatusProofs []statusProof     `json:"status_proofs"`
	VKey         string            `json:"vkey"`
	Note         string            `json:"note"`
	Origin       string            `json:"origin"`
	TilesDir     string            `json:"tiles_dir"`
	Leaves       map[string]string `json:"leaves"`
	Inclusion    []proof           `json:"inclusion"`
	Consistency  []proof           `json:"consistency"`
}

type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return 8 }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		// Go's path is tile/<H>/<L>/<N>; C2SP tlog-tiles drops the height: tile/<L>/<N>.
		p := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
		data, err := os.ReadFile(filepath.Join(d.dir, p))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func hashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("bad hash %q", s)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

func equal(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func run() error {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		return err
	}
	v, err := note.NewVerifier(in.VKey)
	if err != nil {
		return fmt.Errorf("verifier key: %v", err)
	}
	n, err := note.Open([]byte(in.Note), note.VerifierList(v))
	if err != nil {
		return fmt.Errorf("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != in.Origin {
		return fmt.Errorf("checkpoint origin: %q", lines[0])
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return err
	}
	root, err := hashes([]string{lines[2]})
	if err != nil {
		return err
	}
	if !strings.HasPrefix(lines[3], "status-map ") {
		return fmt.Errorf("first extension line is not status-map: %q", lines[3])
	}
	mapRoot, err := hashes([]string{strings.TrimPrefix(lines[3], "status-map ")})
	if err != nil {
		return err
	}
	for _, p := range in.StatusProofs {
		if err := checkStatus(p, mapRoot[0][:]); err != nil {
			return fmt.Errorf("status proof of %s: %v", p.Identifier, err)
		}
	}
	tree := tlog.Tree{N: size, Hash: root[0]}
	reader := tlog.TileHashReader(tree, dirTiles{in.TilesDir})
	if th, err := tlog.TreeHash(size, reader); err != nil || th != tree.Hash {
		return fmt.Errorf("tree hash from tiles: %v", err)
	}
	for _, p := range in.Inclusion {
		ours, err := hashes(p.Hashes)
		if err != nil {
			return err
		}
		data, err := base64.StdEncoding.DecodeString(in.Leaves[strconv.FormatInt(p.LeafIndex, 10)])
		if err != nil {
			return err
		}
		th, err := tlog.TreeHash(p.TreeSize, reader)
		if err != nil {
			return err
		}
		theirs, err := tlog.ProveRecord(p.TreeSize, p.LeafIndex, reader)
		if err != nil {
			return err
		}
		if !equal(ours, theirs) {
			return fmt.Errorf("inclusion proof %d@%d differs from Go's", p.LeafIndex, p.TreeSize)
		}
		if err := tlog.CheckRecord(ours, p.TreeSize, th, p.LeafIndex, tlog.RecordHash(data)); err != nil {
			return fmt.Errorf("inclusion %d@%d: %v", p.LeafIndex, p.TreeSize, err)
		}
	}
	for _, p := range in.Consistency {
		ours, err := hashes(p.Hashes)
		if err != nil {
			return err
		}
		h1, err := tlog.TreeHash(p.First, reader)
		if err != nil {
			return err
		}
		h2, err := tlog.TreeHash(p.Second, reader)
		if err != nil {
			return err
		}
		theirs, err := tlog.ProveTree(p.Second, p.First, reader)
		if err != nil {
			return err
		}
		if !equal(ours, theirs) {
			return fmt.Errorf("consistency proof %d->%d differs from Go's", p.First, p.Second)
		}
		if err := tlog.CheckTree(ours, p.Second, h2, p.First, h1); err != nil {
			return fmt.Errorf("consistency %d->%d: %v", p.First, p.Second, err)
		}
	}
	return nil
}

func h(parts ...[]byte) []byte {
	d := sha256.New()
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum(nil)
}

func bitAt(path []byte, i int) byte { return (path[i/8] >> (7 - uint(i%8))) & 1 }

// checkStatus walks a status proof bottom-up from the entry's leaf node (or the other entry's, or 32 zero bytes).
func checkStatus(p statusProof, root []byte) error {
	path := h([]byte(p.Identifier))
	d := len(p.Siblings)
	var node []byte
	switch {
	case p.Value != nil && p.Leaf == nil:
		node = h([]byte{0}, path, h([]byte(*p.Value)))
	case p.Value == nil && p.Leaf != nil:
		other, err1 := base64.StdEncoding.DecodeString(p.Leaf["path"])
		vh, err2 := base64.StdEncoding.DecodeString(p.Leaf["value_hash"])
		if err1 != nil || err2 != nil || len(other) != 32 || len(vh) != 32 || bytes.Equal(other, path) {
			return fmt.Errorf("bad other leaf")
		}
		for i := 0; i < d; i++ {
			if bitAt(other, i) != bitAt(path, i) {
				return fmt.Errorf("other leaf is not on the path")
			}
		}
		node = h([]byte{0}, other, vh)
	case p.Value == nil && p.Leaf == nil:
		node = make([]byte, 32)
	default:
		return fmt.Errorf("value and leaf both set")
	}
	if (p.Value != nil) != p.Present {
		return fmt.Errorf("membership is not what was expected")
	}
	for i, s := range p.Siblings {
		sib, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(sib) != 32 {
			return fmt.Errorf("bad sibling")
		}
		if bitAt(path, d-1-i) == 1 {
			node = h([]byte{1}, sib, node)
		} else {
			node = h([]byte{1}, node, sib)
		}
	}
	if !bytes.Equal(node, root) {
		return fmt.Errorf("does not lead to the checkpoint's map root")
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}
