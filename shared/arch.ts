// Maps the architecture names Docker (the kernel's machine name) and Node.js report to the cluster's Go/Docker platform names.

/** Kernel machine names (uname -m, Docker's Architecture) and Node's process.arch, to GOARCH. */
const PLATFORM_ARCH: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  amd64: 'amd64',
  x64: 'amd64',
  aarch64: 'arm64',
  arm64: 'arm64',
  armv7l: 'arm',
  armv6l: 'arm',
  armhf: 'arm',
  arm: 'arm',
  i386: '386',
  i686: '386',
  ia32: '386',
};

/** The platform name of an architecture; a name it does not know is passed through unchanged. */
export function platformArch(name: string): string {
  return PLATFORM_ARCH[name] ?? name;
}
