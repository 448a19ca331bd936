/* Photos shrunk on the phone before they are sent: long edge at most 1600 px, JPEG, so that a few photos
   pass through a weak signal. The inspection walk uses trackerPhotos.scale itself; every other form's photo
   field is shrunk here as soon as photos are chosen. A photo the browser cannot read, or a browser that
   cannot replace a field's files, sends the photo as chosen: nothing is lost, it is only bigger. */
(function () {
  'use strict';
  var LONG_EDGE = 1600;

  function scale(file) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file), img = new Image();
      img.onload = function () {
        var w = img.naturalWidth, h = img.naturalHeight, k = Math.min(1, LONG_EDGE / Math.max(w, h));
        var canvas = document.createElement('canvas');
        canvas.width = Math.max(1, Math.round(w * k));
        canvas.height = Math.max(1, Math.round(h * k));
        var g = canvas.getContext('2d');
        g.fillStyle = '#fff';
        g.fillRect(0, 0, canvas.width, canvas.height);
        g.drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob(function (blob) { if (blob) { resolve(blob); } else { reject(new Error('encode')); } },
                      'image/jpeg', 0.82);
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error('decode')); };
      img.src = url;
    });
  }
  window.trackerPhotos = {scale: scale};

  function shrinkField(input) {
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length || typeof DataTransfer === 'undefined') { return; }
    var submit = input.form && input.form.querySelector('button[type=submit]');
    if (submit) { submit.disabled = true; }
    Promise.all(files.map(function (file) {
      return scale(file).then(function (blob) {
        return new File([blob], file.name.replace(/\.[^.]*$/, '') + '.jpg', {type: 'image/jpeg'});
      }, function () { return file; });
    })).then(function (shrunk) {
      var chosen = new DataTransfer();
      shrunk.forEach(function (file) { chosen.items.add(file); });
      input.files = chosen.files;
      input.dispatchEvent(new Event('photos-shrunk'));  // chosen.js shows the sizes as they will be sent
    }).catch(function () { /* the photos as chosen are sent */ })
      .then(function () { if (submit) { submit.disabled = false; } });
  }

  document.querySelectorAll('form input[type=file][name=photo]').forEach(function (input) {
    input.addEventListener('change', function () { shrinkField(input); });
  });
})();
