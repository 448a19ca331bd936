/* Before a form is sent, each chosen photo is shown as a small picture with its size, and the total, so the
   person sees what will go (and that something was chosen at all). photos.js shrinks the photos after they
   are chosen and says so with a 'photos-shrunk' event: the sizes are then shown again, as they will be sent. */
(function () {
  'use strict';

  function size(bytes) {
    if (bytes >= 1024 * 1024) { return (bytes / (1024 * 1024)).toFixed(1) + ' MB'; }
    return Math.max(1, Math.round(bytes / 1024)) + ' KB';
  }

  function box(input) {
    var id = input.getAttribute('aria-describedby'), found = id && document.getElementById(id);
    if (found) { return found; }
    var made = document.createElement('div');
    made.className = 'chosen';
    made.setAttribute('aria-live', 'polite');
    var after = input.closest('label') || input;
    after.parentNode.insertBefore(made, after.nextSibling);
    input.setAttribute('aria-describedby', made.id = 'chosen-' + Math.random().toString(36).slice(2));
    return made;
  }

  function show(input) {
    var where = box(input), files = Array.prototype.slice.call(input.files || []);
    where.querySelectorAll('img').forEach(function (img) { URL.revokeObjectURL(img.src); });
    where.textContent = '';
    if (!files.length) { return; }
    var total = files.reduce(function (sum, f) { return sum + f.size; }, 0);
    var label = input.getAttribute('data-chosen-label') || '{n} · {size}';
    var head = document.createElement('p');
    head.className = 'chosen-total';
    head.textContent = label.replace('{n}', files.length).replace('{size}', size(total));
    where.appendChild(head);
    var list = document.createElement('ul');
    list.className = 'chosen-list';
    files.forEach(function (file) {
      var item = document.createElement('li');
      if (/^image\//.test(file.type)) {
        var img = document.createElement('img');
        img.alt = '';
        img.src = URL.createObjectURL(file);
        item.appendChild(img);
      }
      var caption = document.createElement('span');
      caption.className = 'chosen-size';
      caption.textContent = size(file.size);
      item.appendChild(caption);
      list.appendChild(item);
    });
    where.appendChild(list);
  }

  document.querySelectorAll('form input[type=file][name=photo]').forEach(function (input) {
    input.addEventListener('change', function () { show(input); });
    input.addEventListener('photos-shrunk', function () { show(input); });
  });
})();
