package outbox

import (
	"encoding/binary"
	"fmt"
	"io"
)

// checkPages verifies the page structure of a bbolt file before Open
// writes to it: every page reachable from the root is a branch or leaf page
// below the high-water mark, reached once, and not on the freelist; every
// freelist entry is below the high-water mark, listed once. A file that
// breaks these would have bbolt hand out live pages for new data, or write
// far past the end of the file.
//
// bbolt's own Tx.Check covers this, but runs on a goroutine of its own and
// reads the mapping unchecked, so a damaged page can crash the process
// there. This check reads the file with ReadAt and checks every offset and
// length it uses, so it can neither panic nor fault. It reads page headers
// and element tables, and the values of buckets (their header, and an
// inline bucket's page), not the records.
//
// The layout it reads is bbolt's documented file format (version 2),
// native-endian: a 16-byte page header {id u64, flags u16, count u16,
// overflow u32}; branch elements {pos u32, ksize u32, pgid u64} and leaf
// elements {flags u32, pos u32, ksize u32, vsize u32}, whose pos counts from
// the element itself; a bucket value starts with {root u64, sequence u64},
// root 0 meaning an inline bucket, whose leaf page (header and elements as
// above, pos counting from the element within the value) follows the
// header in the value; the meta is {magic, version, pageSize, flags u32;
// root bucket; freelist, pgid, txid, checksum u64}.
func checkPages(f io.ReaderAt, pageSize int, txid uint64) error {
	c := pageChecker{f: f, pageSize: uint64(pageSize), seen: map[uint64]bool{}}
	if pageSize < 1024 {
		return fmt.Errorf("%w: page size %d", ErrCorrupt, pageSize)
	}
	var root, freelist uint64
	found := false
	for id := uint64(0); id < 2; id++ {
		b := make([]byte, pageHeaderLen+64)
		if _, err := f.ReadAt(b, int64(id*c.pageSize)); err != nil {
			continue
		}
		m := b[pageHeaderLen:]
		if binary.NativeEndian.Uint32(m[0:]) != boltMagic || binary.NativeEndian.Uint64(m[48:]) != txid {
			continue
		}
		root = binary.NativeEndian.Uint64(m[16:])
		freelist = binary.NativeEndian.Uint64(m[32:])
		c.hwm = binary.NativeEndian.Uint64(m[40:])
		found = true
		break
	}
	if !found {
		return fmt.Errorf("%w: no meta page for transaction %d", ErrCorrupt, txid)
	}
	c.seen[0], c.seen[1] = true, true
	if err := c.walk(root, 0); err != nil {
		return err
	}
	if freelist == noFreelist {
		return nil
	}
	return c.checkFreelist(freelist)
}

const (
	pageHeaderLen  = 16
	bucketHeader   = 16
	elementLen     = 16
	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	freelistFlag   = 0x10
	bucketLeafFlag = 0x01
	boltMagic      = 0xED0CDAED
	noFreelist     = ^uint64(0)
	maxTreeDepth   = 64
)

type pageChecker struct {
	f        io.ReaderAt
	pageSize uint64
	hwm      uint64
	seen     map[uint64]bool
}

// at reads n bytes at off bytes into the span of page id (span pages).
func (c *pageChecker) at(id, span, off, n uint64) ([]byte, error) {
	if off+n < off || off+n > span*c.pageSize {
		return nil, fmt.Errorf("%w: page %d: %d bytes at %d run past its %d pages", ErrCorrupt, id, n, off, span)
	}
	b := make([]byte, n)
	if _, err := c.f.ReadAt(b, int64(id*c.pageSize+off)); err != nil {
		return nil, fmt.Errorf("%w: page %d: %w", ErrCorrupt, id, err)
	}
	return b, nil
}

// claim reads page id's header and marks its pages as used.
func (c *pageChecker) claim(id uint64) (flags uint16, count int, span uint64, err error) {
	if id < 2 || id >= c.hwm {
		return 0, 0, 0, fmt.Errorf("%w: page %d is outside the file's %d pages", ErrCorrupt, id, c.hwm)
	}
	h, err := c.at(id, 1, 0, pageHeaderLen)
	if err != nil {
		return 0, 0, 0, err
	}
	if got := binary.NativeEndian.Uint64(h[0:]); got != id {
		return 0, 0, 0, fmt.Errorf("%w: page %d says it is page %d", ErrCorrupt, id, got)
	}
	flags = binary.NativeEndian.Uint16(h[8:])
	count = int(binary.NativeEndian.Uint16(h[10:]))
	span = 1 + uint64(binary.NativeEndian.Uint32(h[12:]))
	if id+span > c.hwm {
		return 0, 0, 0, fmt.Errorf("%w: page %d and its %d overflow pages run past the file's %d pages", ErrCorrupt, id, span-1, c.hwm)
	}
	for k := range span {
		if c.seen[id+k] {
			return 0, 0, 0, fmt.Errorf("%w: page %d is used twice", ErrCorrupt, id+k)
		}
		c.seen[id+k] = true
	}
	return flags, count, span, nil
}

func (c *pageChecker) walk(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%w: page %d: tree deeper than %d", ErrCorrupt, id, maxTreeDepth)
	}
	flags, count, span, err := c.claim(id)
	if err != nil {
		return err
	}
	if flags != branchPageFlag && flags != leafPageFlag {
		return fmt.Errorf("%w: page %d: type %#x where a branch or leaf page belongs", ErrCorrupt, id, flags)
	}
	elems, err := c.at(id, span, pageHeaderLen, uint64(count)*elementLen)
	if err != nil {
		return err
	}
	for i := range count {
		e := elems[i*elementLen:]
		elemOff := uint64(pageHeaderLen + i*elementLen)
		if flags == branchPageFlag {
			if pos, ksize := uint64(binary.NativeEndian.Uint32(e[0:])), uint64(binary.NativeEndian.Uint32(e[4:])); elemOff+pos+ksize > span*c.pageSize {
				return fmt.Errorf("%w: page %d: entry %d runs past its %d pages", ErrCorrupt, id, i, span)
			}
			if err := c.walk(binary.NativeEndian.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
			continue
		}
		pos := uint64(binary.NativeEndian.Uint32(e[4:]))
		ksize := uint64(binary.NativeEndian.Uint32(e[8:]))
		vsize := uint64(binary.NativeEndian.Uint32(e[12:]))
		if end := elemOff + pos + ksize + vsize; end > span*c.pageSize {
			return fmt.Errorf("%w: page %d: entry %d runs past its %d pages", ErrCorrupt, id, i, span)
		}
		if binary.NativeEndian.Uint32(e[0:])&bucketLeafFlag == 0 {
			continue
		}
		if vsize < bucketHeader {
			return fmt.Errorf("%w: page %d: bucket entry %d of %d bytes", ErrCorrupt, id, i, vsize)
		}
		v, err := c.at(id, span, elemOff+pos+ksize, 8)
		if err != nil {
			return err
		}
		if sub := binary.NativeEndian.Uint64(v); sub != 0 {
			if err := c.walk(sub, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := c.inline(id, span, i, elemOff+pos+ksize, vsize); err != nil {
			return err
		}
	}
	return nil
}

// inline checks the bucket stored inline in entry i of page id, whose value
// is vsize bytes at off: a leaf page after the bucket header, its elements
// within the value. bbolt inlines only a bucket that fits in a quarter page
// and holds no bucket: a value larger than a page, or a bucket in it, is
// damage.
func (c *pageChecker) inline(id, span uint64, i int, off, vsize uint64) error {
	if vsize < bucketHeader+pageHeaderLen || vsize > c.pageSize {
		return fmt.Errorf("%w: page %d: inline bucket in entry %d of %d bytes", ErrCorrupt, id, i, vsize)
	}
	v, err := c.at(id, span, off, vsize)
	if err != nil {
		return err
	}
	p := v[bucketHeader:]
	if flags := binary.NativeEndian.Uint16(p[8:]); flags != leafPageFlag {
		return fmt.Errorf("%w: page %d: inline bucket in entry %d has page type %#x", ErrCorrupt, id, i, flags)
	}
	count := uint64(binary.NativeEndian.Uint16(p[10:]))
	if pageHeaderLen+count*elementLen > uint64(len(p)) {
		return fmt.Errorf("%w: page %d: inline bucket in entry %d claims %d entries in %d bytes", ErrCorrupt, id, i, count, len(p))
	}
	for j := range count {
		elemOff := pageHeaderLen + j*elementLen
		e := p[elemOff:]
		if binary.NativeEndian.Uint32(e[0:])&bucketLeafFlag != 0 {
			return fmt.Errorf("%w: page %d: inline bucket in entry %d holds a bucket", ErrCorrupt, id, i)
		}
		pos := uint64(binary.NativeEndian.Uint32(e[4:]))
		ksize := uint64(binary.NativeEndian.Uint32(e[8:]))
		vsize := uint64(binary.NativeEndian.Uint32(e[12:]))
		if elemOff+pos+ksize+vsize > uint64(len(p)) {
			return fmt.Errorf("%w: page %d: inline bucket in entry %d: entry %d runs past the bucket", ErrCorrupt, id, i, j)
		}
	}
	return nil
}

func (c *pageChecker) checkFreelist(id uint64) error {
	flags, count, span, err := c.claim(id)
	if err != nil {
		return err
	}
	if flags != freelistFlag {
		return fmt.Errorf("%w: freelist page %d has type %#x", ErrCorrupt, id, flags)
	}
	off := uint64(pageHeaderLen)
	n := uint64(count)
	if count == 0xFFFF {
		b, err := c.at(id, span, off, 8)
		if err != nil {
			return err
		}
		n = binary.NativeEndian.Uint64(b)
		off += 8
	}
	if n > span*c.pageSize/8 {
		return fmt.Errorf("%w: freelist page %d claims %d entries", ErrCorrupt, id, n)
	}
	ids, err := c.at(id, span, off, n*8)
	if err != nil {
		return err
	}
	free := make(map[uint64]bool, n)
	for i := range n {
		p := binary.NativeEndian.Uint64(ids[i*8:])
		switch {
		case p < 2 || p >= c.hwm:
			return fmt.Errorf("%w: freelist lists page %d, outside the file's %d pages", ErrCorrupt, p, c.hwm)
		case c.seen[p]:
			return fmt.Errorf("%w: freelist lists page %d, which is in use", ErrCorrupt, p)
		case free[p]:
			return fmt.Errorf("%w: freelist lists page %d twice", ErrCorrupt, p)
		}
		free[p] = true
	}
	return nil
}
