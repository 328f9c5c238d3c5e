package hubsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/iotd/iotd/internal/pki"
)

// Auth modes of a device, as in device_info.json.
const (
	AuthKey  = "KEY"
	AuthCert = "CERT"
)

// Limits the real hub enforces (PROTOCOL.md §1.4).
const (
	MaxProductIDLen  = 10
	MaxDeviceNameLen = 48
)

var (
	// ErrNotFound is wrapped by errors for an unknown product or device.
	ErrNotFound = errors.New("hubsim: not found")
	// ErrExists is wrapped by errors for a product or device that already
	// exists.
	ErrExists = errors.New("hubsim: already exists")
	// ErrInvalid is wrapped by errors for a malformed id, name or request.
	ErrInvalid = errors.New("hubsim: invalid")
)

var (
	productIDPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,10}$`)
	deviceNamePattern = regexp.MustCompile(`^[A-Za-z0-9:_-]{1,48}$`)
)

// Product is a product known to the hub.
type Product struct {
	ProductID string `json:"productId"`
	// ProductSecret is kept for dynamic registration (base64, 24 chars).
	ProductSecret string    `json:"productSecret"`
	Created       time.Time `json:"created"`
}

// Device is a device known to the hub, with its credentials.
type Device struct {
	ProductID  string `json:"productId"`
	DeviceName string `json:"deviceName"`
	// AuthMode is AuthKey or AuthCert.
	AuthMode string `json:"authMode"`
	// Secret is the base64 device secret (key devices).
	Secret string `json:"deviceSecret,omitempty"`
	// CertPEM and KeyPEM are the device's client certificate and key (cert
	// devices), issued by the hubsim CA.
	CertPEM string `json:"certPem,omitempty"`
	KeyPEM  string `json:"keyPem,omitempty"`
	// Disabled devices are refused at CONNECT (CONNACK 5).
	Disabled bool      `json:"disabled,omitempty"`
	Created  time.Time `json:"created"`
}

// ClientID is the MQTT client id the device must use: product id and device
// name with no separator.
func (d *Device) ClientID() string { return d.ProductID + d.DeviceName }

// Public returns a copy without credentials, safe to list and print.
func (d Device) Public() Device {
	d.Secret, d.KeyPEM = "", ""
	return d
}

// stateFile is the on-disk layout of the registry.
type stateFile struct {
	Products []Product `json:"products"`
	Devices  []Device  `json:"devices"`
}

// Store is the hub's product and device registry, persisted as one JSON file
// (written atomically, 0600). It is safe for concurrent use.
type Store struct {
	path string
	ca   *pki.Pair
	now  func() time.Time

	mu       sync.RWMutex
	products map[string]*Product
	devices  map[string]*Device // by pid + "/" + dn
	byClient map[string]*Device // by client id
}

// OpenStore loads the registry at path, or starts an empty one when the
// file does not exist. ca issues certificates for cert devices.
func OpenStore(path string, ca *pki.Pair, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{path: path, ca: ca, now: now,
		products: map[string]*Product{}, devices: map[string]*Device{}, byClient: map[string]*Device{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hubsim: registry: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("hubsim: registry %s is corrupt (%v); fix or remove it", path, err)
	}
	for i := range st.Products {
		p := st.Products[i]
		s.products[p.ProductID] = &p
	}
	for i := range st.Devices {
		d := st.Devices[i]
		s.devices[key(d.ProductID, d.DeviceName)] = &d
		s.byClient[d.ClientID()] = &d
	}
	return s, nil
}

func key(pid, dn string) string { return pid + "/" + dn }

// ValidateProductID checks a product id against the hub's rules.
func ValidateProductID(pid string) error {
	if !productIDPattern.MatchString(pid) {
		return fmt.Errorf("%w: product id %q: use 1 to %d characters from [A-Za-z0-9_-] (the real hub uses 10 of [A-Z0-9])",
			ErrInvalid, pid, MaxProductIDLen)
	}
	return nil
}

// ValidateDeviceName checks a device name against the hub's rules.
func ValidateDeviceName(dn string) error {
	if !deviceNamePattern.MatchString(dn) {
		return fmt.Errorf("%w: device name %q: use 1 to %d characters from [A-Za-z0-9:_-]",
			ErrInvalid, dn, MaxDeviceNameLen)
	}
	return nil
}

// CreateProduct adds a product. It fails with ErrExists when it exists.
func (s *Store) CreateProduct(pid string) (Product, error) {
	if err := ValidateProductID(pid); err != nil {
		return Product{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.products[pid]; ok {
		return Product{}, fmt.Errorf("%w: product %s", ErrExists, pid)
	}
	p, err := s.newProductLocked(pid)
	if err != nil {
		return Product{}, err
	}
	if err := s.saveLocked(); err != nil {
		delete(s.products, pid)
		return Product{}, err
	}
	return *p, nil
}

func (s *Store) newProductLocked(pid string) (*Product, error) {
	secret, err := randomSecret(18) // 24 base64 characters
	if err != nil {
		return nil, err
	}
	p := &Product{ProductID: pid, ProductSecret: secret, Created: s.now().UTC()}
	s.products[pid] = p
	return p, nil
}

// Product returns a product.
func (s *Store) Product(pid string) (Product, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.products[pid]
	if !ok {
		return Product{}, fmt.Errorf("%w: product %s", ErrNotFound, pid)
	}
	return *p, nil
}

// Products lists products sorted by id.
func (s *Store) Products() []Product {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Product, 0, len(s.products))
	for _, p := range s.products {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProductID < out[j].ProductID })
	return out
}

// CreateDevice adds a device, creating its product when absent. Key devices
// get a random 16-byte secret (base64); cert devices get a client
// certificate whose CN is the client id, issued by the hubsim CA.
func (s *Store) CreateDevice(pid, dn, authMode string) (Device, error) {
	if err := ValidateProductID(pid); err != nil {
		return Device{}, err
	}
	if err := ValidateDeviceName(dn); err != nil {
		return Device{}, err
	}
	d, err := s.newDevice(pid, dn, authMode)
	if err != nil {
		return Device{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.devices[key(pid, dn)]; ok {
		return Device{}, fmt.Errorf("%w: device %s/%s", ErrExists, pid, dn)
	}
	if other, ok := s.byClient[d.ClientID()]; ok {
		return Device{}, fmt.Errorf("%w: client id %s is already used by device %s/%s; choose another name",
			ErrExists, d.ClientID(), other.ProductID, other.DeviceName)
	}
	newProduct := false
	if _, ok := s.products[pid]; !ok {
		if _, err := s.newProductLocked(pid); err != nil {
			return Device{}, err
		}
		newProduct = true
	}
	s.devices[key(pid, dn)] = &d
	s.byClient[d.ClientID()] = &d
	if err := s.saveLocked(); err != nil {
		delete(s.devices, key(pid, dn))
		delete(s.byClient, d.ClientID())
		if newProduct {
			delete(s.products, pid)
		}
		return Device{}, err
	}
	return d, nil
}

// newDevice makes a device's record and credentials without adding it.
func (s *Store) newDevice(pid, dn, authMode string) (Device, error) {
	d := Device{ProductID: pid, DeviceName: dn, AuthMode: authMode, Created: s.now().UTC()}
	switch authMode {
	case AuthKey, "":
		d.AuthMode = AuthKey
		secret, err := randomSecret(16)
		if err != nil {
			return Device{}, err
		}
		d.Secret = secret
	case AuthCert:
		if s.ca == nil {
			return Device{}, fmt.Errorf("hubsim: no CA to issue a device certificate")
		}
		pair, err := s.ca.Issue(pki.Options{CommonName: d.ClientID(), Client: true})
		if err != nil {
			return Device{}, fmt.Errorf("hubsim: issue device certificate: %w", err)
		}
		d.CertPEM, d.KeyPEM = string(pair.CertPEM), string(pair.KeyPEM)
	default:
		return Device{}, fmt.Errorf("%w: auth mode %q: use %s or %s", ErrInvalid, authMode, AuthKey, AuthCert)
	}
	return d, nil
}

// Device returns a device with its credentials.
func (s *Store) Device(pid, dn string) (Device, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.devices[key(pid, dn)]
	if !ok {
		return Device{}, fmt.Errorf("%w: device %s/%s", ErrNotFound, pid, dn)
	}
	return *d, nil
}

// DeviceByClientID finds a device by its MQTT client id.
func (s *Store) DeviceByClientID(clientID string) (Device, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.byClient[clientID]
	if !ok {
		return Device{}, false
	}
	return *d, true
}

// Devices lists devices (with credentials) sorted by product and name;
// pid "" lists all products.
func (s *Store) Devices(pid string) []Device {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Device, 0, len(s.devices))
	for _, d := range s.devices {
		if pid == "" || d.ProductID == pid {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return key(out[i].ProductID, out[i].DeviceName) < key(out[j].ProductID, out[j].DeviceName)
	})
	return out
}

// SetDisabled enables or disables a device.
func (s *Store) SetDisabled(pid, dn string, disabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[key(pid, dn)]
	if !ok {
		return fmt.Errorf("%w: device %s/%s", ErrNotFound, pid, dn)
	}
	old := d.Disabled
	d.Disabled = disabled
	if err := s.saveLocked(); err != nil {
		d.Disabled = old
		return err
	}
	return nil
}

func (s *Store) saveLocked() error {
	var st stateFile
	for _, p := range s.products {
		st.Products = append(st.Products, *p)
	}
	for _, d := range s.devices {
		st.Devices = append(st.Devices, *d)
	}
	sort.Slice(st.Products, func(i, j int) bool { return st.Products[i].ProductID < st.Products[j].ProductID })
	sort.Slice(st.Devices, func(i, j int) bool {
		return key(st.Devices[i].ProductID, st.Devices[i].DeviceName) < key(st.Devices[j].ProductID, st.Devices[j].DeviceName)
	})
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("hubsim: registry: %w", err)
	}
	if err := pki.WriteFileAtomic(s.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("hubsim: registry: %w", err)
	}
	return nil
}

func randomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("hubsim: random secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
