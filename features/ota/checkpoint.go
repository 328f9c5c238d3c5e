package ota

import (
	"bytes"
	"crypto/md5"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/iotd/iotd/internal/pki"
)

// checkpointName is the checkpoint's file name inside Config.Dir.
const checkpointName = "checkpoint.json"

// Checkpoint is what survives a restart of a download in progress. It is
// written atomically (temp file, rename) with mode 0600 after every chunk,
// which survives the process being killed; at most once a second (and at
// the end) the partial file and the checkpoint are also fsynced, which
// survives a power cut. Synced and SyncedHashState record that durable
// point: on restore, the bytes after it are re-hashed from its state and
// kept only if they hash to HashState, so a power cut that lost the tail of
// the file costs at most a second of download, never a corrupt image.
type Checkpoint struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	MD5     string `json:"md5sum"`
	Size    int64  `json:"file_size"`
	// Written bytes of the partial file are written and hashed.
	Written int64 `json:"written"`
	// Synced bytes (≤ Written) were fsynced; SyncedHashState is the MD5
	// state after them.
	Synced          int64  `json:"synced,omitempty"`
	SyncedHashState []byte `json:"synced_hash_state,omitempty"`
	// Partial is the partial file's path.
	Partial string `json:"partial"`
	// HashState is crypto/md5's marshalled state after Written bytes.
	HashState []byte `json:"hash_state,omitempty"`
	// Installing is set while the install hook runs.
	Installing bool `json:"installing,omitempty"`
	// RebootPending is set when the install succeeded but takes effect
	// after a reboot (an A/B install); From is the version it replaces. The
	// update is done once the device runs Version, failed if it still runs
	// From when the confirmation times out.
	RebootPending bool   `json:"reboot_pending,omitempty"`
	From          string `json:"from,omitempty"`
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
	if c.Synced < 0 || c.Synced > c.Written {
		return nil, fmt.Errorf("%w: synced %d outside 0..%d", ErrBadCheckpoint, c.Synced, c.Written)
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
	c, err := ParseCheckpoint(data)
	if err != nil {
		return nil, err
	}
	// A fast record of the same download, further on, is newer. Its bytes
	// after the durable point are checked against its hash state before
	// they are trusted (restoreHash).
	if f := loadFast(dir); f != nil && f.Update() == c.Update() && f.Partial == c.Partial &&
		f.Written > c.Written && f.Synced >= c.Synced && !c.Installing && !c.RebootPending && !c.Failed {
		return f, nil
	}
	return c, nil
}

// SaveCheckpoint writes c into dir atomically with mode 0600: durably
// (temp file, fsync, rename, directory fsync) when c is at its synced point,
// else with a plain atomic replace that survives the process dying but not
// necessarily a power cut (see Checkpoint for why that is safe). A
// download saves through a [Checkpointer] instead, which keeps the fast
// record's file open.
func SaveCheckpoint(dir string, c *Checkpoint) error {
	k := NewCheckpointer(dir)
	return errors.Join(k.Save(c), k.Close())
}

// Checkpointer saves the checkpoints of one download into dir, as
// SaveCheckpoint does, with the fast record's file kept open between
// them: a checkpoint between two durable ones is one pwrite (opening and
// closing the file each time cost as much again, at every chunk). Close it
// when the download ends. It is not safe for concurrent use.
type Checkpointer struct {
	dir  string
	fast *os.File // the fast record's file, once opened
}

// NewCheckpointer returns a Checkpointer for dir. It does no I/O.
func NewCheckpointer(dir string) *Checkpointer { return &Checkpointer{dir: dir} }

// Save writes c (see SaveCheckpoint).
func (k *Checkpointer) Save(c *Checkpoint) error {
	if c.Synced == c.Written {
		if err := saveDurable(k.dir, c); err != nil {
			return err
		}
		// The durable checkpoint is the newest now; an older fast record
		// must not win over it.
		_ = k.Close()
		_ = os.Remove(filepath.Join(k.dir, fastName))
		return nil
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	// One pwrite over the record: the record carries its length and CRC,
	// so a torn write is recognised and ignored, and the tail of a longer
	// earlier record after it is never read.
	rec := append([]byte(fmt.Sprintf("%s %08x %d\n", fastMagic, crc32.ChecksumIEEE(data), len(data))), data...)
	if k.fast == nil {
		f, err := os.OpenFile(filepath.Join(k.dir, fastName), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("ota: checkpoint: %w", err)
		}
		k.fast = f
	}
	if _, err := k.fast.WriteAt(rec, 0); err != nil {
		_ = k.Close()
		return fmt.Errorf("ota: checkpoint: %w", err)
	}
	return nil
}

// Close closes the fast record's file; the Checkpointer may save again.
func (k *Checkpointer) Close() error {
	if k.fast == nil {
		return nil
	}
	err := k.fast.Close()
	k.fast = nil
	return err
}

// fastName holds the checkpoint written between two durable ones.
const (
	fastName  = "checkpoint.fast"
	fastMagic = "iotd-ota-checkpoint-1"
)

// loadFast returns the fast checkpoint record in dir, or nil when there is
// none or it is torn or foreign.
func loadFast(dir string) *Checkpoint {
	b, err := os.ReadFile(filepath.Join(dir, fastName))
	if err != nil {
		return nil
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil
	}
	var sum uint32
	var n int
	if _, err := fmt.Sscanf(string(b[:nl]), fastMagic+" %08x %d", &sum, &n); err != nil || n < 0 || nl+1+n > len(b) {
		return nil
	}
	data := b[nl+1 : nl+1+n]
	if crc32.ChecksumIEEE(data) != sum {
		return nil
	}
	c, err := ParseCheckpoint(data)
	if err != nil {
		return nil
	}
	return c
}

// saveDurable writes c into dir atomically and durably.
func saveDurable(dir string, c *Checkpoint) error {
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
	_ = os.Remove(filepath.Join(dir, fastName))
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
	if fi.Size() >= c.Written && len(c.HashState) > 0 && stateLen(c.HashState) == c.Written {
		if c.Synced == c.Written {
			if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(c.HashState); err == nil {
				return h, c.Written, nil
			}
		} else if n, ok := verifyTail(c); ok {
			// The unsynced tail is intact (or, after a power cut, the
			// synced part is): continue from there.
			return n.h, n.at, nil
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

type restored struct {
	h  hash.Hash
	at int64
}

// verifyTail re-hashes the bytes between the synced point and Written from
// the synced state. If they hash to HashState they are what was downloaded
// and the download continues from Written; if not (a power cut lost them),
// it continues from the synced point. ok is false when the synced state
// itself is unusable.
func verifyTail(c *Checkpoint) (restored, bool) {
	h := md5.New()
	if c.Synced > 0 {
		if stateLen(c.SyncedHashState) != c.Synced || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(c.SyncedHashState) != nil {
			return restored{}, false
		}
	}
	f, err := os.Open(c.Partial)
	if err != nil {
		return restored{}, false
	}
	defer f.Close()
	if _, err := f.Seek(c.Synced, io.SeekStart); err != nil {
		return restored{}, false
	}
	synced := marshalHash(h)
	if n, err := io.Copy(h, io.LimitReader(f, c.Written-c.Synced)); err == nil && n == c.Written-c.Synced &&
		bytes.Equal(marshalHash(h), c.HashState) {
		return restored{h, c.Written}, true
	}
	back := md5.New()
	if back.(encoding.BinaryUnmarshaler).UnmarshalBinary(synced) != nil {
		return restored{}, false
	}
	return restored{back, c.Synced}, true
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
