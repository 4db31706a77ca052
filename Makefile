# The README's commands. Everything real happens in scripts/ and meson.build.
.PHONY: demo test build clean

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

build:
	./scripts/install-deps.sh
	[ -d build ] || meson setup build
	ninja -C build

clean:
	rm -rf build build-asan
