// Package ota is iotd's firmware update feature (PROTOCOL.md §2.3, §3.3).
//
// At start, and after every install, it reports the current version on
// $ota/report/{pid}/{dn} (QoS 1). It listens on $ota/update/{pid}/{dn} for
// update_firmware, downloads the file over HTTP(S) through the transport the
// daemon gives it (whose connections go through a registered driver, so a
// modem works too), verifies the MD5, runs the install hook and reports
// progress, burning, done or fail with the protocol's result codes.
//
// # Surviving interruption
//
// The download is written to a partial file in the state directory. After
// every CheckpointEvery bytes (64 KiB by default) the partial file is
// fsynced and a checkpoint is written atomically (0600): version, url, md5,
// size, bytes written, the partial file's path and the marshalled MD5 state.
// A restart, a dropped connection or a repeated update_firmware for the same
// version resumes with "Range: bytes=N-(size-1)" (an inclusive end, unlike
// the C SDK) and continues the MD5 from the saved state; only when the saved
// state does not match the partial file's length is the file re-hashed. At
// most one checkpoint interval plus what the transport had buffered is
// fetched twice per interruption. At start, a checkpoint left by an
// interrupted download is resumed without waiting for the cloud.
//
// # Install hook
//
// The hook (features.ota.hook) runs once the MD5 matched. It receives the
// file path and the new version both as arguments appended to its command
// (FILE VERSION) and in the environment (IOTD_FIRMWARE_FILE,
// IOTD_FIRMWARE_VERSION, IOTD_FIRMWARE_MD5, IOTD_FIRMWARE_SIZE,
// IOTD_PRODUCT_ID, IOTD_DEVICE_NAME). Exit status 0 means installed: iotd
// reports done, records the new version in the version file and reports it.
// Anything else is fail -5 and the old version stays current. Without a hook
// a verified download counts as installed (the file is kept in the state
// directory). If iotd stops while the hook runs, the outcome is unknown: at
// the next start the update is reported as failed (-5) rather than run twice.
//
// # Version
//
// The current version is read at start from the version file (default
// {state_dir}/ota/version), falling back to Config.Version, then "0.0.0".
// After each successful install iotd writes the new version to the file.
package ota
