package ota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/iotd/iotd/features/hook"
)

// The pieces of an install that do not depend on how the image arrived:
// the OTA feature downloads it itself; on channel at-tencent the module
// downloads it and iotd reads it out of the module's flash. Both must put
// it in the same place, run the same hook and keep the same version file,
// so a board's install script does not care which channel it runs under.

// Image is a verified firmware file, as the install hook is told about it.
type Image struct {
	File    string
	Version string
	MD5     string
	Size    int64
}

// Paths returns the download directory and the version file of cfg,
// absolute, defaulting to {stateDir}/ota and {dir}/version.
func Paths(cfg Config, stateDir string) (dir, versionFile string, err error) {
	dir = cfg.Dir
	if dir == "" {
		if stateDir == "" {
			return "", "", errors.New("ota: no directory for downloads: set state_dir or features.ota.dir")
		}
		dir = filepath.Join(stateDir, "ota")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", "", fmt.Errorf("ota: %w", err)
	}
	versionFile = cfg.VersionFile
	if versionFile == "" {
		versionFile = filepath.Join(dir, "version")
	}
	return dir, versionFile, nil
}

// CurrentVersion returns the version file's content, else configured,
// else DefaultVersion. An unreadable or invalid file is logged and skipped:
// the device must still report something.
func CurrentVersion(versionFile, configured string, log *slog.Logger) string {
	if b, err := os.ReadFile(versionFile); err == nil {
		v := strings.TrimSpace(string(b))
		if ValidateVersion(v) == nil {
			return v
		}
		log.Warn("OTA version file ignored", "file", versionFile, "reason", ValidateVersion(v))
	}
	if configured != "" {
		return configured
	}
	return DefaultVersion
}

// RunHook runs the install hook hc (Config.Hook with its defaults) for
// img of device pid/dn: FILE and VERSION appended to its command, and
// IOTD_FIRMWARE_FILE, _VERSION, _MD5, _SIZE, IOTD_PRODUCT_ID and
// IOTD_DEVICE_NAME in its environment. Exit 0 means installed.
func RunHook(ctx context.Context, hc hook.Config, img Image, pid, dn string, log *slog.Logger) error {
	hc.Command = append(append([]string(nil), hc.Command...), img.File, img.Version)
	r, err := hook.New(hc, log)
	if err != nil {
		return err
	}
	_, err = r.Run(ctx, nil, map[string]string{
		"IOTD_FEATURE":          "ota",
		"IOTD_FIRMWARE_FILE":    img.File,
		"IOTD_FIRMWARE_VERSION": img.Version,
		"IOTD_FIRMWARE_MD5":     img.MD5,
		"IOTD_FIRMWARE_SIZE":    strconv.FormatInt(img.Size, 10),
		"IOTD_PRODUCT_ID":       pid,
		"IOTD_DEVICE_NAME":      dn,
	})
	return err
}
