// TurboJPEG (libturbojpeg0-dev) and zlib (zlib1g-dev), used only by the Photo module.
#include <stddef.h>
#include <turbojpeg.h>
#include <zlib.h>
