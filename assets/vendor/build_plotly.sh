#!/usr/bin/env bash
# Builds assets/vendor/plotly-omnidash.min.js: plotly.js with only the trace types omnidash draws (scatter,
# scattergl, bar, parcoords), from the npm package of the plotly.js version the installed plotly (Python) ships,
# with the esbuild setup of plotly.js's own esbuild-config.js (glsl shaders minified, CSS inlined).
# 1.6 MB instead of plotly.min.js's 4.8 MB; Chromium evaluates it in about a third of the time.
# app/plotly_bundle.py serves it to dcc.Graph in place of plotly.min.js when the versions match.
#   bash assets/vendor/build_plotly.sh        # needs node and npm (Node 20) and the npm registry
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
VERSION="$("$PY" -c 'from plotly.offline import get_plotlyjs_version; print(get_plotlyjs_version())')"
TRACES="bar scattergl parcoords"  # scatter is part of plotly.js's core
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack -q "plotly.js@$VERSION" >/dev/null
tar xzf "plotly.js-$VERSION.tgz"
cd package
npm install -q --no-audit --no-fund --ignore-scripts --omit=dev >/dev/null
npm install -q --no-audit --no-fund --ignore-scripts --no-save \
    esbuild@0.28.1 esbuild-plugin-glsl@1.4.2 esbuild-plugin-inline-css@0.0.1 esbuild-plugin-environment@0.5.0 >/dev/null
{
    echo "'use strict';"
    echo "var Plotly = require('./lib/core');"
    echo "Plotly.register(["
    for t in $TRACES; do echo "    require('./lib/$t'),"; done
    echo "]);"
    echo "module.exports = Plotly;"
} > omnidash-entry.js
cat > omnidash-build.js <<JS
const { build } = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
build({
    entryPoints: ['./omnidash-entry.js'], outfile: process.argv[2], format: 'iife', globalName: 'Plotly',
    bundle: true, minify: true, sourcemap: false, legalComments: 'eof', target: 'es2016', logLevel: 'warning',
    plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    banner: { js: '/**\n* plotly.js (omnidash: scatter, ${TRACES// /, } - minified) v$VERSION\n'
                  + '* Copyright 2012-2026, Plotly, Inc.\n* All rights reserved.\n* Licensed under the MIT license\n*/' },
    footer: { js: 'window.Plotly = Plotly;' },
}).catch(() => process.exit(1));
JS
node omnidash-build.js "$HERE/plotly-omnidash.min.js"
cp LICENSE "$HERE/plotly.LICENSE"
echo "wrote $HERE/plotly-omnidash.min.js (plotly.js $VERSION: scatter, ${TRACES// /, }), $(wc -c < "$HERE/plotly-omnidash.min.js") bytes"
