package docker

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// A build context is streamed to the daemon as a tar of the context directory, the
// files workshop.WalkContext gives: .dockerignore honoured with Docker's own matcher,
// the Dockerfile and .dockerignore always sent, .git never (the context digest hashes
// the same files).

// newContextTar streams dir as a tar. Read errors surface through the reader.
func newContextTar(dir, dockerfile string) (io.ReadCloser, error) {
	return newContextTarWith(dir, dockerfile, nil)
}

// newContextTarWith streams dir ("" for none) as a tar after the extra in-memory files
// (name -> content; a file of dir with the same name is left out).
func newContextTarWith(dir, dockerfile string, extra map[string][]byte) (io.ReadCloser, error) {
	if dir != "" {
		if _, err := workshop.LoadContextFilter(dir, dockerfile); err != nil {
			return nil, err // a bad .dockerignore: say it before streaming
		}
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeContextTar(pw, dir, dockerfile, extra))
	}()
	return pr, nil
}

func writeContextTar(w io.Writer, dir, dockerfile string, extra map[string][]byte) error {
	tw := tar.NewWriter(w)
	for name, content := range extra {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(content); err != nil {
			return err
		}
	}
	if dir == "" {
		return tw.Close()
	}
	err := workshop.WalkContext(dir, dockerfile, func(p, rel string, d fs.DirEntry) error {
		if _, dup := extra[rel]; dup {
			return nil
		}
		return addTarEntry(tw, p, rel, d)
	})
	if err != nil {
		return fmt.Errorf("build context %s: %w", dir, err)
	}
	return tw.Close()
}

// addTarEntry writes one directory, regular file or symlink; other kinds are skipped.
func addTarEntry(tw *tar.Writer, p, rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	case info.IsDir(), info.Mode().IsRegular():
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = rel
	if info.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, hdr.Size)
	return err
}
