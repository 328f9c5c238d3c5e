package ota

import (
	"crypto/md5"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/iotd/iotd/internal/pki"
)

// checkpointName is the checkpoint's file name inside Config.Dir.
const checkpointName = "checkpoint.json"

// Checkpoint is what survives a restart of a download in progress. It is
// written atomically (temp file, fsync, rename) with mode 0600.
type Checkpoint struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	MD5     string `json:"md5sum"`
	Size    int64  `json:"file_size"`
	// Written bytes of the partial file are fsynced and hashed.
	Written int64 `json:"written"`
	// Partial is the partial file's path.
	Partial string `json:"partial"`
	// HashState is crypto/md5's marshalled state after Written bytes.
	HashState []byte `json:"hash_state,omitempty"`
	// Installing is set while the install hook runs.
	Installing bool `json:"installing,omitempty"`
	// Failed is set when the download failed; a restart does not resume it
	// on its own, the same update sent again does.
	Failed bool `json:"failed,omitempty"`
}

// Update returns the update the checkpoint belongs to.
func (c *Checkpoint) Update() Update {
	return Update{Version: c.Version, URL: c.URL, MD5: c.MD5, Size: c.Size}
}

// ErrBadCheckpoint is wrapped by ParseCheckpoint errors.
var ErrBadCheckpoint = errors.New("ota: bad checkpoint")

// ParseCheckpoint decodes and checks a checkpoint file's content.
func ParseCheckpoint(data []byte) (*Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	msg, _ := json.Marshal(map[string]any{"type": "update_firmware", "version": c.Version,
		"url": c.URL, "md5sum": c.MD5, "file_size": c.Size})
	if _, _, err := ParseUpdate(msg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if c.Written < 0 || c.Written > c.Size {
		return nil, fmt.Errorf("%w: written %d outside 0..%d", ErrBadCheckpoint, c.Written, c.Size)
	}
	if c.Partial == "" || !filepath.IsAbs(c.Partial) {
		return nil, fmt.Errorf("%w: partial file path %q is not absolute", ErrBadCheckpoint, c.Partial)
	}
	return &c, nil
}

// LoadCheckpoint reads the checkpoint in dir; (nil, nil) when there is none.
func LoadCheckpoint(dir string) (*Checkpoint, error) {
	data, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ota: %w", err)
	}
	return ParseCheckpoint(data)
}

// SaveCheckpoint writes c into dir atomically (temp file, fsync, rename)
// with mode 0600.
func SaveCheckpoint(dir string, c *Checkpoint) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(filepath.Join(dir, checkpointName), data, 0o600); err != nil {
		return fmt.Errorf("ota: checkpoint: %w", err)
	}
	return nil
}

func removeCheckpoint(dir string) error {
	err := os.Remove(filepath.Join(dir, checkpointName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// restoreHash returns an MD5 over the first c.Written bytes of the partial
// file: from the saved state when it is consistent, else by re-reading the
// file. It returns the length it could vouch for, which is less than
// c.Written when the file is shorter (then the download continues from
// there).
func restoreHash(c *Checkpoint) (hash.Hash, int64, error) {
	h := md5.New()
	fi, err := os.Stat(c.Partial)
	if errors.Is(err, os.ErrNotExist) {
		return h, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ota: partial file: %w", err)
	}
	if fi.Size() >= c.Written && len(c.HashState) > 0 {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(c.HashState); err == nil && stateLen(c.HashState) == c.Written {
			return h, c.Written, nil
		}
		h = md5.New()
	}
	n := min(fi.Size(), c.Written)
	f, err := os.Open(c.Partial)
	if err != nil {
		return nil, 0, fmt.Errorf("ota: partial file: %w", err)
	}
	defer f.Close()
	got, err := io.Copy(h, io.LimitReader(f, n))
	if err != nil {
		return nil, 0, fmt.Errorf("ota: re-hash partial file: %w", err)
	}
	return h, got, nil
}

// stateLen is the byte count recorded in a marshalled crypto/md5 state: its
// last 8 bytes, big-endian (the layout of Go's md5.digest.MarshalBinary).
// -1 when the state is too short.
func stateLen(state []byte) int64 {
	if len(state) < 8 {
		return -1
	}
	var n int64
	for _, b := range state[len(state)-8:] {
		n = n<<8 | int64(b)
	}
	return n
}

func marshalHash(h hash.Hash) []byte {
	b, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	return b
}
